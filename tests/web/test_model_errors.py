"""Unknown and aliased models, said plainly in all three APIs: the model named, the nearest names, one
upstream call for a typo, and the upstream model in a header."""

from __future__ import annotations

import logging
import time

import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway

HELLO = {"contents": [{"parts": [{"text": "Hello"}]}]}
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def _generate_calls(gateway: Gateway) -> list[str]:
    return [r.endpoint for r in gateway.emulator.requests if r.method == "generateContent"]


def test_gemini_unknown_model_names_it_and_the_nearest_ones(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="antigravity_gateway"):
        answer = gateway.http().post("/v1beta/models/gemini-2.5-flsh:generateContent", json=HELLO)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["status"] == "NOT_FOUND"
    assert "'gemini-2.5-flsh'" in error["message"] and "gemini-2.5-flash" in error["message"]
    assert "GET /v1beta/models" in error["message"]
    assert _generate_calls(gateway) == ["sandbox"], "a 404 for a model is not an endpoint failure"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if "next endpoint" in r.getMessage()]


def test_anthropic_unknown_model_names_it(gateway: Gateway) -> None:
    answer = gateway.http().post(
        "/v1/messages",
        headers=ANTHROPIC,
        json={"model": "gemini-2.5-prox", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "not_found_error"
    assert "'gemini-2.5-prox'" in error["message"] and "gemini-2.5-pro" in error["message"]
    assert _generate_calls(gateway) == ["sandbox"]


def test_openai_unknown_model_still_says_model_not_found(gateway: Gateway) -> None:
    answer = gateway.http().post(
        "/v1/chat/completions",
        json={"model": "gemini-9", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "model_not_found"
    assert "gemini-9" in answer.json()["error"]["message"]


def test_a_404_without_googles_entity_message_still_falls_back(gateway: Gateway) -> None:
    gateway.emulator.add_fault(
        Fault(
            endpoint="sandbox",
            status=404,
            body={
                "error": {"code": 404, "message": "The requested URL was not found.", "status": "NOT_FOUND"}
            },
        )
    )
    answer = gateway.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=HELLO)
    assert answer.status_code == 200
    assert _generate_calls(gateway) == ["sandbox", "daily"]


def test_every_api_names_the_upstream_model_of_an_alias(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = gateway.http()
    openai = http.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    )
    assert openai.status_code == 200 and openai.headers["x-agw-upstream-model"] == "gemini-2.5-flash"
    anthropic = http.post(
        "/v1/messages",
        headers=ANTHROPIC,
        json={
            "model": "claude-3-5-haiku-latest",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "Hi"}],
        },
    )
    assert anthropic.status_code == 200 and anthropic.headers["x-agw-upstream-model"] == "claude-sonnet-4-6"
    gemini = http.post("/v1beta/models/gemini-2.5-flash-lite:generateContent", json=HELLO)
    assert gemini.status_code == 200 and gemini.headers["x-agw-upstream-model"] == "gemini-2.5-flash"

    # The request log keeps the mapping, and `agw logs tail` shows it.
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    deadline = time.monotonic() + 10
    while len(tail := CliRunner().invoke(main, ["logs", "tail"]).output.splitlines()) < 3:
        assert time.monotonic() < deadline, "the requests were not logged"
        time.sleep(0.05)
    assert "gpt-4o->gemini-2.5-flash" in tail[0]
    assert "claude-3-5-haiku-latest->claude-sonnet-4-6" in tail[1]
    assert "gemini-2.5-flash-lite->gemini-2.5-flash" in tail[2]


@pytest.mark.parametrize(
    ("max_tokens", "message"),
    [
        (None, "max_tokens: Field required"),
        ("100", "max_tokens: Input should be a valid integer"),
        (1.5, "valid integer"),
    ],
)
def test_anthropic_messages_require_an_integer_max_tokens(
    gateway: Gateway, max_tokens: object, message: str
) -> None:
    body: dict[str, object] = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    answer = gateway.http().post("/v1/messages", headers=ANTHROPIC, json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]
    assert not _generate_calls(gateway)


def test_anthropic_count_tokens_takes_no_max_tokens(gateway: Gateway) -> None:
    answer = gateway.http().post(
        "/v1/messages/count_tokens",
        headers=ANTHROPIC,
        json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert answer.status_code == 200 and answer.json()["input_tokens"] >= 1
