"""``GET /metrics`` on a real gateway against the emulator: exact request and token counts, the
histograms, the gauges read from the pool, and who may scrape it."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, make_account

MODEL = "gemini-2.5-flash"
GEMINI = f"/v1beta/models/{MODEL}:generateContent"
PASSWORD = "admin-pass-123"
TOKEN = "metrics-token-0123456789"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: Gateway, **headers: str) -> Samples:
    answer = gateway.http().get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def usage_of(gemini_answer: dict[str, Any]) -> tuple[int, int, int]:
    usage = gemini_answer["usageMetadata"]
    return (
        usage.get("promptTokenCount", 0),
        usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
        usage.get("cachedContentTokenCount", 0),
    )


def ask(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_counts_histograms_and_gauges_after_real_requests(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account("alice@example.com"), make_account("bob@example.com")])
    http = gateway.http()
    tokens = [0, 0, 0]
    # one 429 from Google: a cooldown for the account that got it, and a second attempt on the other one
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="120s", method="generateContent", times=1))
    for text in ("first question", "second question"):
        answer = http.post(GEMINI, json=ask(text))
        assert answer.status_code == 200
        tokens = [a + b for a, b in zip(tokens, usage_of(answer.json()), strict=True)]
    chat = http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hello from openai"}]},
    )
    assert chat.status_code == 200
    usage = chat.json()["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    tokens = [tokens[0] + usage["prompt_tokens"], tokens[1] + usage["completion_tokens"], tokens[2] + cached]
    message = http.post(
        "/v1/messages",
        json={"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi anthropic"}]},
    )
    assert message.status_code == 200
    assert http.post("/v1/chat/completions", json={"model": MODEL}).status_code == 400
    unknown = http.post("/v1beta/models/no-such-model-xyz:generateContent", json=ask("who?"))
    assert unknown.status_code >= 400

    samples = scrape(gateway)

    requests = named(samples, "agw_requests_total")
    assert requests == {
        frozenset({("protocol", "gemini"), ("model", MODEL), ("status", "200")}): 2,
        frozenset({("protocol", "openai"), ("model", MODEL), ("status", "200")}): 1,
        frozenset({("protocol", "anthropic"), ("model", MODEL), ("status", "200")}): 1,
        frozenset({("protocol", "openai"), ("model", ""), ("status", "400")}): 1,  # refused before its model
        # a name nothing serves gets no label of its own (a client may send any name)
        frozenset({("protocol", "gemini"), ("model", "other"), ("status", str(unknown.status_code))}): 1,
    }
    # attempts: 1 for three requests, 2 for the one that met the 429; the unknown model's one attempt
    assert value(samples, "agw_request_attempts_count") == 5
    assert value(samples, "agw_request_attempts_bucket", le="1.0") == 4
    assert value(samples, "agw_request_attempts_bucket", le="2.0") == 5
    assert value(samples, "agw_request_attempts_sum") == 6
    assert value(samples, "agw_request_duration_seconds_count", protocol="gemini") == 3
    assert value(samples, "agw_request_duration_seconds_count", protocol="openai") == 2
    assert value(samples, "agw_request_duration_seconds_bucket", protocol="anthropic", le="+Inf") == 1
    assert value(samples, "agw_time_to_first_event_seconds_count", protocol="gemini") == 2
    assert value(samples, "agw_time_to_first_event_seconds_count", protocol="anthropic") == 1
    assert 0 < value(samples, "agw_time_to_first_event_seconds_sum", protocol="gemini") < 30

    anthropic_usage = message.json()["usage"]
    tokens[0] += anthropic_usage["input_tokens"] + anthropic_usage.get("cache_read_input_tokens", 0)
    tokens[1] += anthropic_usage["output_tokens"]
    tokens[2] += anthropic_usage.get("cache_read_input_tokens", 0)
    assert tokens[0] > 0 and tokens[1] > 0
    assert value(samples, "agw_tokens_total", direction="input", model=MODEL) == tokens[0]
    assert value(samples, "agw_tokens_total", direction="output", model=MODEL) == tokens[1]
    assert value(samples, "agw_tokens_total", direction="cached", model=MODEL) == tokens[2]

    assert ("agw_token_refreshes_total", frozenset({("result", "ok")})) in samples
    assert ("agw_token_refreshes_total", frozenset({("result", "failed")})) in samples
    assert value(samples, "agw_accounts", state="enabled") == 2
    assert value(samples, "agw_accounts", state="invalid_grant") == 0
    assert value(samples, "agw_cooldowns_active", model=MODEL) == 1
    assert value(samples, "agw_info", version=__import__("antigravity_gateway").__version__) == 1
    quota = named(samples, "agw_quota_remaining_fraction")
    assert frozenset({("account", "alice@example.com"), ("model", MODEL)}) in quota
    assert all(0 <= v <= 1 for v in quota.values())


def test_refreshes_are_counted_by_result(gateway: Gateway) -> None:
    gateway.emulator.expire_access_tokens()  # Google answers 401: the gateway refreshes the token
    assert gateway.http().post(GEMINI, json=ask("a new token please")).status_code == 200
    samples = scrape(gateway)
    assert value(samples, "agw_token_refreshes_total", result="ok") >= 1
    assert value(samples, "agw_token_refreshes_total", result="failed") == 0
    gateway.emulator.expire_access_tokens()
    gateway.emulator.add_fault(Fault(endpoint="oauth", method="token", status=400, times=None))
    assert gateway.http().post(GEMINI, json=ask("no token for you")).status_code >= 400
    assert value(scrape(gateway), "agw_token_refreshes_total", result="failed") >= 1


def test_an_expired_cooldown_is_not_counted(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="1s", method="generateContent", times=1))
    gateway.http().post(GEMINI, json=ask("cool down briefly"))
    scheduler = gateway.state.scheduler
    for cooldown in scheduler.cooldowns.values():
        cooldown.until = time.time() - 1
    assert named(scrape(gateway), "agw_cooldowns_active") == {}


# -- who may scrape ---------------------------------------------------------------------------------------


def test_with_an_admin_password_a_session_the_password_or_the_token_opens_it(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = gateway_factory(
        admin_password=PASSWORD, metrics_token=TOKEN, api_key="sk-client", auth_mode="strict"
    )
    anonymous = gateway.http().get("/metrics")
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    assert gateway.http().get("/metrics", headers={"x-api-key": "sk-client"}).status_code == 401
    wrong = gateway.http().get("/metrics", headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/json"
    assert "message" in wrong.json()["error"]
    assert scrape(gateway, authorization=f"Bearer {TOKEN}")
    assert scrape(gateway, authorization=f"Bearer {PASSWORD}")
    session = gateway.http()
    assert session.post("/api/login", json={"password": PASSWORD}).status_code == 200
    assert session.get("/metrics").status_code == 200
    # the metrics token opens /metrics only, not the admin API
    assert (
        gateway.http().get("/api/accounts", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 401
    )
    assert TOKEN not in caplog.text


def test_on_loopback_without_a_password_it_is_open_like_the_admin_api(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(metrics_token=TOKEN)
    assert gateway.http().get("/metrics").status_code == 200
    assert scrape(gateway, authorization=f"Bearer {TOKEN}")
    assert gateway.http().get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_exposed_without_a_password_only_the_token_opens_it(gateway_factory: GatewayFactory) -> None:
    closed = gateway_factory(allow_lan=True, api_key="sk-client")
    assert closed.http().get("/metrics").status_code == 403
    assert closed.http().get("/metrics", headers={"authorization": "Bearer anything"}).status_code == 403
    gateway = gateway_factory(allow_lan=True, api_key="sk-client", metrics_token=TOKEN)
    assert gateway.http().get("/metrics").status_code == 401
    assert gateway.http().get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert scrape(gateway, authorization=f"Bearer {TOKEN}")  # no client key needed


def test_cross_site_requests_are_refused(gateway: Gateway) -> None:
    http = gateway.http()
    assert http.get("/metrics", headers={"origin": "https://evil.example"}).status_code == 403
    assert http.get("/metrics", headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert http.get("/metrics", headers={"host": "evil.example"}).status_code == 403
    assert http.get("/metrics", headers={"sec-fetch-site": "same-origin"}).status_code == 200
