"""User keys against a real gateway, over HTTP, on each protocol: every refusal (401 revoked/expired/
unknown, 403 model and address, 429 rpm/tokens per day/concurrency with ``Retry-After`` and the
``x-ratelimit-*`` headers) in the caller's shape and never reaching Google; 50 parallel requests against
rpm 10; an expiry passing while a request is in flight; rotation; model lists; ip_allow/ip_deny; usage."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx2 as httpx
import pytest

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, add_key, wait_until

PROTOCOLS = ["gemini", "openai", "anthropic"]
MODEL = "gemini-2.5-flash"
TEXT = "Hello from a user key"
SHAPE_401 = {
    "gemini": "UNAUTHENTICATED",
    "openai": "invalid_request_error",
    "anthropic": "authentication_error",
}


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    """On loopback in auth mode ``auto``, with an operator key: user keys turn authentication on."""
    return gateway_factory(auth_mode="auto", api_key="sk-operator")


def call(
    gateway: Gateway, protocol: str, key: str | None, model: str = MODEL, **extra: Any
) -> httpx.Response:
    """One request of ``protocol``'s own kind, sending the key the way its clients do."""
    http = gateway.http()
    if protocol == "gemini":
        headers = {"x-goog-api-key": key} if key else {}
        body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
        return http.post(f"/v1beta/models/{model}:generateContent", json=body, headers=headers, **extra)
    if protocol == "openai":
        headers = {"authorization": f"Bearer {key}"} if key else {}
        body = {"model": model, "messages": [{"role": "user", "content": TEXT}]}
        return http.post("/v1/chat/completions", json=body, headers=headers, **extra)
    headers = (
        {"x-api-key": key, "anthropic-version": "2023-06-01"} if key else {"anthropic-version": "2023-06-01"}
    )
    body = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": TEXT}]}
    return http.post("/v1/messages", json=body, headers=headers, **extra)


def error_of(protocol: str, response: httpx.Response) -> tuple[str, str]:
    """``(kind, message)`` of an error answer in ``protocol``'s shape (asserting the shape)."""
    data = response.json()
    if protocol == "gemini":
        assert data["error"]["code"] == response.status_code
        return data["error"]["status"], data["error"]["message"]
    if protocol == "openai":
        assert set(data["error"]) >= {"message", "type", "code"}
        return data["error"]["type"], data["error"]["message"]
    assert data["type"] == "error"
    return data["error"]["type"], data["error"]["message"]


def generate_calls(gateway: Gateway) -> int:
    return sum(r.method in ("generateContent", "streamGenerateContent") for r in gateway.emulator.requests)


def on_loop(gateway: Gateway, coroutine: Any) -> Any:
    """Run a coroutine on the gateway's own event loop (its store is bound to it)."""
    return asyncio.run_coroutine_threadsafe(coroutine, gateway.state.loop).result(10)


def expire(gateway: Gateway, name: str) -> None:
    """Make the key's expiry pass now (the API refuses an expiry in the past)."""
    state = gateway.state

    async def run() -> None:
        await state.pool.store.update_key(name, {"expires_at": time.time() - 1})
        await state.keys.load(state.pool.store)

    on_loop(gateway, run())


def admin(gateway: Gateway) -> httpx.Client:
    return gateway.http()


# -- authentication --------------------------------------------------------------------------------


def test_a_user_key_makes_auto_mode_require_a_key_on_loopback(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(auth_mode="auto")  # no operator key at all
    assert call(gateway, "gemini", None).status_code == 200
    secret = add_key(gateway, "ada")
    refused = call(gateway, "gemini", None)
    assert refused.status_code == 401 and error_of("gemini", refused)[1] == "missing API key"
    http = gateway.http()
    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
    path = f"/v1beta/models/{MODEL}:generateContent"
    for headers, query in (
        ({"authorization": f"Bearer {secret}"}, ""),
        ({"x-api-key": secret}, ""),
        ({"x-goog-api-key": secret}, ""),
        ({}, f"?key={secret}"),
    ):
        assert http.post(path + query, json=body, headers=headers).status_code == 200, headers or query
    assert http.get("/healthz").status_code == 200  # health stays open
    assert admin(gateway).post("/api/keys/ada/revoke", json={}).status_code == 200
    assert call(gateway, "gemini", None).status_code == 401  # revoking a key does not open the gateway
    assert admin(gateway).request("DELETE", "/api/keys/ada", json={}).status_code == 200
    assert call(gateway, "gemini", None).status_code == 200  # no key left: as before


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_revoked_and_expired_keys_are_401_in_the_callers_shape(
    gateway: Gateway, protocol: str
) -> None:
    revoked = add_key(gateway, "gone")
    expired = add_key(gateway, "old")
    add_key(gateway, "other")
    assert admin(gateway).post("/api/keys/gone/revoke", json={}).status_code == 200
    expire(gateway, "old")
    unknown = call(gateway, protocol, "agw-" + "x" * 43)
    assert unknown.status_code == 401 and error_of(protocol, unknown)[1] == "invalid API key"
    gone = call(gateway, protocol, revoked)
    assert gone.status_code == 401
    kind, message = error_of(protocol, gone)
    assert message == "the API key 'gone' was revoked" and kind == SHAPE_401[protocol]
    old = call(gateway, protocol, expired)
    assert old.status_code == 401
    assert re.fullmatch(
        r"the API key 'old' expired on \d{4}-\d\d-\d\d \d\d:\d\d UTC", error_of(protocol, old)[1]
    )
    for answer in (unknown, gone, old):
        assert "other" not in answer.text  # nothing about the keys that exist
    assert call(gateway, protocol, "sk-operator").status_code == 200  # the operator's key still works
    assert generate_calls(gateway) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_model_the_key_may_not_use_is_403_naming_it_and_the_patterns(
    gateway: Gateway, protocol: str
) -> None:
    secret = add_key(gateway, "ada", models="gemini-2.5-*,claude-sonnet-*")
    refused = call(gateway, protocol, secret, model="gemini-3-flash")
    assert refused.status_code == 403
    kind, message = error_of(protocol, refused)
    assert message == (
        "the API key 'ada' may not use the model 'gemini-3-flash': its models are gemini-2.5-*, claude-sonnet-*"
    )
    assert (
        kind
        == {"gemini": "PERMISSION_DENIED", "openai": "permission_error", "anthropic": "permission_error"}[
            protocol
        ]
    )
    # gpt-4o is served as gemini-2.5-flash: allowed upstream, but the name asked for is not
    alias = call(gateway, protocol, secret, model="gpt-4o")
    assert alias.status_code == 403
    assert "'gpt-4o' (served as gemini-2.5-flash)" in error_of(protocol, alias)[1]
    assert generate_calls(gateway) == 0
    assert call(gateway, protocol, secret, model="gemini-2.5-pro").status_code == 200


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_address_outside_the_keys_networks_is_403(gateway_factory: GatewayFactory, protocol: str) -> None:
    gateway = gateway_factory(auth_mode="auto", trusted_proxies=["127.0.0.1"])
    secret = add_key(gateway, "office", ips="10.0.0.0/8")
    refused = call(gateway, protocol, secret)
    assert refused.status_code == 403
    assert error_of(protocol, refused)[1] == "the API key 'office' may not be used from the address 127.0.0.1"
    # The client's address through a trusted proxy:
    http = gateway.http(headers={"x-forwarded-for": "10.1.2.3"})
    if protocol == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
        ok = http.post(
            f"/v1beta/models/{MODEL}:generateContent", json=body, headers={"x-goog-api-key": secret}
        )
    elif protocol == "openai":
        body = {"model": MODEL, "messages": [{"role": "user", "content": TEXT}]}
        ok = http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {secret}"})
    else:
        body = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": TEXT}]}
        ok = http.post(
            "/v1/messages", json=body, headers={"x-api-key": secret, "anthropic-version": "2023-06-01"}
        )
    assert ok.status_code == 200
    assert generate_calls(gateway) == 1


def test_x_forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy(gateway: Gateway) -> None:
    secret = add_key(gateway, "office", ips="10.0.0.0/8")
    http = gateway.http(headers={"x-forwarded-for": "10.1.2.3"})
    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
    refused = http.post(
        f"/v1beta/models/{MODEL}:generateContent", json=body, headers={"x-goog-api-key": secret}
    )
    assert refused.status_code == 403


# -- limits ----------------------------------------------------------------------------------------


def _assert_request_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers["x-ratelimit-limit-requests"] == str(limit)
    assert response.headers["x-ratelimit-remaining-requests"] == str(remaining)
    assert re.fullmatch(r"(\d+m)?\d+s", response.headers["x-ratelimit-reset-requests"])


def test_rpm_refuses_with_retry_after_and_ratelimit_headers_on_each_protocol(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada", rpm=2)
    first = call(gateway, "gemini", secret)
    assert first.status_code == 200
    _assert_request_headers(first, 2, 1)
    assert "x-ratelimit-limit-tokens" not in first.headers
    assert call(gateway, "openai", secret).status_code == 200
    for protocol in PROTOCOLS:
        refused = call(gateway, protocol, secret)
        assert refused.status_code == 429, protocol
        kind, message = error_of(protocol, refused)
        assert re.fullmatch(
            r"the API key 'ada' is over its limit of 2 requests per minute: retry in \d+ s", message
        )
        assert (
            kind
            == {
                "gemini": "RESOURCE_EXHAUSTED",
                "openai": "rate_limit_error",
                "anthropic": "rate_limit_error",
            }[protocol]
        )
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        _assert_request_headers(refused, 2, 0)
    assert generate_calls(gateway) == 2
    usage = admin(gateway).get("/api/keys/ada").json()["today"]
    assert (usage["requests"], usage["refused"]) == (2, 3)


def test_tokens_per_day_refuse_once_reached_with_token_headers(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada", tokens_per_day=5)
    first = call(gateway, "anthropic", secret)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "5"
    assert first.headers["x-ratelimit-remaining-tokens"] == "5"  # as of its admission
    assert "x-ratelimit-limit-requests" not in first.headers
    for protocol in PROTOCOLS:
        refused = call(gateway, protocol, secret)
        assert refused.status_code == 429, protocol
        message = error_of(protocol, refused)[1]
        assert message.startswith("the API key 'ada' has used its 5 tokens for today (UTC day ")
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
        assert re.fullmatch(r"(\d+h)?(\d+m)?\d+s", refused.headers["x-ratelimit-reset-tokens"])
        seconds_to_midnight = 86400 - time.time() % 86400
        assert abs(int(refused.headers["retry-after"]) - seconds_to_midnight) <= 5
    assert generate_calls(gateway) == 1
    today = admin(gateway).get("/api/keys/ada").json()["today"]
    assert today["input_tokens"] + today["output_tokens"] > 5  # the request that crossed it, in full


def _stream(http: httpx.Client, secret: str) -> Any:
    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
    return http.stream(
        "POST",
        f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        json=body,
        headers={"x-goog-api-key": secret},
    )


def test_concurrency_refuses_while_a_stream_is_in_flight_and_frees_the_slot_after(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada", concurrency=1)
    gateway.emulator.add_fault(Fault(method="streamGenerateContent", stall_after_events=1, times=1))
    http = gateway.http()
    with _stream(http, secret) as held:
        assert held.status_code == 200
        lines = held.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))  # admitted, in flight
        for protocol in PROTOCOLS:
            refused = call(gateway, protocol, secret)
            assert refused.status_code == 429, protocol
            assert error_of(protocol, refused)[1] == (
                "the API key 'ada' already has 1 requests in progress, its limit: retry when one has finished"
            )
            assert refused.headers["retry-after"] == "1"
    # The client hung up: the stream ends, and its slot with it.
    wait_until(lambda: gateway.state.enforcer.running == 0, "the stream's release")
    assert call(gateway, "openai", secret).status_code == 200
    assert call(gateway, "gemini", secret).status_code == 200  # released again after each request
    assert generate_calls(gateway) == 3


def test_fifty_parallel_requests_against_rpm_10_admit_exactly_10(gateway: Gateway) -> None:
    secret = add_key(gateway, "burst", rpm=10)
    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=limits) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/v1beta/models/{MODEL}:generateContent",
                        json=body,
                        headers={"x-goog-api-key": secret},
                    )
                    for _ in range(50)
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 40
    assert generate_calls(gateway) == 10


def test_an_expiry_passing_in_flight_lets_the_request_finish_and_refuses_the_next(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada")
    gateway.emulator.chunk_delay = 0.5
    http = gateway.http()
    with _stream(http, secret) as stream:
        lines = stream.iter_lines()
        events = [next(line for line in lines if line.startswith("data: "))]  # admitted, in flight
        expires = time.time() + 0.2
        assert admin(gateway).patch("/api/keys/ada", json={"expires": expires}).status_code == 200
        wait_until(lambda: time.time() > expires, "the expiry")
        events += [line for line in lines if line.startswith("data: ")]
    assert stream.status_code == 200 and len(events) >= 3
    assert '"finishReason":"STOP"' in events[-1].replace(" ", "")
    refused = call(gateway, "gemini", secret)
    assert refused.status_code == 401 and "expired" in error_of("gemini", refused)[1]
    wait_until(lambda: gateway.state.enforcer.running == 0, "the release")
    today = admin(gateway).get("/api/keys/ada").json()["today"]
    assert today["requests"] == 1 and today["output_tokens"] > 0  # the stream's usage counted


def test_rotate_kills_the_old_secret_at_once(gateway: Gateway) -> None:
    old = add_key(gateway, "ada", rpm=100)
    assert call(gateway, "openai", old).status_code == 200
    rotated = admin(gateway).post("/api/keys/ada/rotate", json={})
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["key"]["prefix"] == new[:10] and rotated.json()["key"]["rpm"] == 100
    refused = call(gateway, "openai", old)
    assert refused.status_code == 401 and error_of("openai", refused)[1] == "invalid API key"
    assert call(gateway, "openai", new).status_code == 200


def test_a_change_made_by_another_process_applies_within_a_second(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada")
    store = gateway.state.pool.store
    on_loop(gateway, store.update_key("ada", {"revoked_at": time.time()}))  # not through the admin API
    wait_until(lambda: call(gateway, "gemini", secret).status_code == 401, "the revocation", timeout=2)


# -- model lists -----------------------------------------------------------------------------------


def test_model_lists_show_only_the_keys_models(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada", models="gemini-2.5-*")
    http = gateway.http()
    gemini = http.get("/v1beta/models", headers={"x-goog-api-key": secret}).json()
    assert sorted(m["name"] for m in gemini["models"]) == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    openai = http.get("/v1/models", headers={"authorization": f"Bearer {secret}"}).json()
    assert sorted(m["id"] for m in openai["data"]) == ["gemini-2.5-flash", "gemini-2.5-pro"]
    anthropic = http.get(
        "/v1/models", headers={"x-api-key": secret, "anthropic-version": "2023-06-01"}
    ).json()
    assert sorted(m["id"] for m in anthropic["data"]) == ["gemini-2.5-flash", "gemini-2.5-pro"]
    genai_style = http.get("/v1/models", headers={"x-goog-api-key": secret}).json()
    assert sorted(m["name"] for m in genai_style["models"]) == [
        "models/gemini-2.5-flash",
        "models/gemini-2.5-pro",
    ]
    assert http.get("/v1beta/models/gemini-2.5-pro", headers={"x-goog-api-key": secret}).status_code == 200
    hidden = http.get("/v1beta/models/gemini-3-flash", headers={"x-goog-api-key": secret})
    assert hidden.status_code == 403 and "gemini-2.5-*" in hidden.json()["error"]["message"]
    assert (
        http.get("/v1/models/gemini-3-flash", headers={"authorization": f"Bearer {secret}"}).status_code
        == 403
    )
    everything = http.get("/v1beta/models", headers={"x-goog-api-key": "sk-operator"}).json()
    assert len(everything["models"]) > 2


# -- global address lists --------------------------------------------------------------------------


def test_ip_deny_and_ip_allow_apply_to_every_request(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(auth_mode="auto", ip_deny=["127.0.0.0/8"])
    http = gateway.http()
    for path in ("/healthz", "/v1beta/models", "/api/overview", "/ui/"):
        refused = http.get(path)
        assert refused.status_code == 403, path
        assert "127.0.0.1 are not allowed (ip_allow / ip_deny)" in refused.text
    assert call(gateway, "anthropic", None).status_code == 403
    gateway.settings.ip_deny = []  # applied live
    gateway.settings.trusted_proxies = ["127.0.0.1"]
    gateway.settings.ip_allow = ["10.0.0.0/8"]
    assert http.get("/healthz").status_code == 403  # 127.0.0.1 is not in ip_allow
    forwarded = gateway.http(headers={"x-forwarded-for": "10.9.8.7"})
    assert forwarded.get("/healthz").status_code == 200
    assert call(gateway, "gemini", None).status_code == 403
    gateway.settings.ip_deny = ["10.9.8.7"]  # deny wins over allow
    assert forwarded.get("/healthz").status_code == 403


# -- usage -----------------------------------------------------------------------------------------


def test_the_request_log_and_usage_name_the_key_and_count_streams(gateway: Gateway) -> None:
    secret = add_key(gateway, "ada")
    assert call(gateway, "gemini", secret).status_code == 200
    with _stream(gateway.http(), secret) as stream:
        assert sum(line.startswith("data: ") for line in stream.iter_lines()) >= 3
    assert call(gateway, "openai", secret, model="no-such-model").status_code >= 400
    assert call(gateway, "gemini", "sk-operator").status_code == 200
    wait_until(lambda: gateway.state.enforcer.running == 0, "the releases")
    view = admin(gateway).get("/api/keys/ada").json()
    today = view["today"]
    assert (today["requests"], today["errors"]) == (3, 1)
    assert today["input_tokens"] > 0 and today["output_tokens"] > 0
    assert view["last_used_at"] and view["in_flight"] == 0
    logs = admin(gateway).get("/api/logs").json()["items"]
    assert sorted(r["key_name"] for r in logs) == ["", "ada", "ada", "ada"]
    by_key = {row["key"]: row for row in admin(gateway).get("/api/stats").json()["by_key"]}
    assert by_key["ada"]["requests"] == 3 and by_key["ada"]["errors"] == 1 and by_key["ada"]["last_ts"]


def test_the_operator_key_pays_no_store_call(gateway: Gateway) -> None:
    add_key(gateway, "ada", rpm=5)
    store = gateway.state.pool.store
    calls: list[str] = []
    admit, release = store.admit_key_request, store.release_key_request

    async def counted_admit(*args: Any, **kwargs: Any) -> Any:
        calls.append("admit")
        return await admit(*args, **kwargs)

    async def counted_release(*args: Any, **kwargs: Any) -> Any:
        calls.append("release")
        return await release(*args, **kwargs)

    store.admit_key_request, store.release_key_request = counted_admit, counted_release
    try:
        for protocol in PROTOCOLS:
            assert call(gateway, protocol, "sk-operator").status_code == 200
        assert calls == []
        assert call(gateway, "gemini", add_key(gateway, "bob")).status_code == 200
        wait_until(lambda: len(calls) == 2, "the user key's release")
        assert calls == ["admit", "release"]
    finally:
        del store.admit_key_request, store.release_key_request
