"""Deadlines: per attempt, per request, and between the events of an upstream stream. Each ends with a
clear error in the caller's protocol instead of a request that hangs for minutes."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import Emulator, Fault
from tests.conftest import GatewayFactory, make_account

GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"


def wait_gone(emulator: Emulator, count: int = 1) -> None:
    """Until the emulator has seen ``count`` callers give up during a delay (so nothing of this test
    is still running in it when the next one starts)."""
    deadline = time.monotonic() + 5
    while sum(r.status == 499 for r in emulator.requests) < count:
        assert time.monotonic() < deadline, "the gateway did not close its upstream connection"
        time.sleep(0.01)


def ask(text: str = "Tell me about deadlines") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (GEMINI, ask()),
        (
            "/v1/chat/completions",
            {
                "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": "Tell me about deadlines"}],
            },
        ),
        (
            "/v1/messages",
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "Hi there"}],
            },
        ),
    ],
    ids=["gemini", "openai", "anthropic"],
)
def test_request_timeout_is_a_504_in_the_callers_protocol(
    gateway_factory: GatewayFactory, path: str, body: dict[str, Any]
) -> None:
    gateway = gateway_factory(request_timeout=0.5)
    gateway.emulator.add_fault(Fault.slow_first_byte(5, times=None))
    started = time.monotonic()
    answer = gateway.http().post(path, json=body)
    assert time.monotonic() - started < 3
    assert answer.status_code == 504, answer.text
    assert "(request_timeout)" in answer.text
    if path == GEMINI:
        assert answer.json()["error"]["status"] == "DEADLINE_EXCEEDED"
    elif path.startswith("/v1/chat"):
        assert answer.json()["error"]["type"] == "server_error"
    else:
        assert answer.json()["type"] == "error"
    wait_gone(gateway.emulator)


def test_an_attempt_past_attempt_timeout_moves_to_the_next_account(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = gateway_factory(
        [make_account("alice@example.com"), make_account("bob@example.com")], attempt_timeout=0.5
    )
    gateway.emulator.add_fault(Fault.slow_first_byte(5, method="generateContent", times=1))
    started = time.monotonic()
    answer = gateway.http().post(GEMINI, json=ask())
    assert answer.status_code == 200
    assert time.monotonic() - started < 3
    # the emulator records the slow request only once it ends: the answer says who served it
    text = answer.json()["candidates"][0]["content"]["parts"][0]["text"]
    (slow,) = [e for e in ("alice@example.com", "bob@example.com") if e not in text]
    assert gateway.state.scheduler.in_flight == {}
    assert slow in caplog.text and "(attempt_timeout)" in caplog.text
    wait_gone(gateway.emulator)


def test_the_last_attempt_past_attempt_timeout_is_a_504(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(attempt_timeout=0.3, max_attempts=2)
    gateway.emulator.add_fault(Fault.slow_first_byte(5, method="generateContent", times=None))
    answer = gateway.http().post(GEMINI, json=ask())
    assert answer.status_code == 504
    assert "(attempt_timeout)" in answer.json()["error"]["message"]
    assert gateway.state.scheduler.in_flight == {}
    wait_gone(gateway.emulator, 2)


@pytest.mark.parametrize(
    ("path", "body", "marker"),
    [
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", ask(), b'"DEADLINE_EXCEEDED"'),
        (
            "/v1/chat/completions",
            {
                "model": "gemini-2.5-flash",
                "stream": True,
                "messages": [{"role": "user", "content": "A long one"}],
            },
            b"data: [DONE]",
        ),
        (
            "/v1/messages",
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "A long one"}],
            },
            b"event: error",
        ),
    ],
    ids=["gemini", "openai", "anthropic"],
)
def test_a_stalled_stream_ends_with_an_error_event(
    gateway_factory: GatewayFactory, path: str, body: dict[str, Any], marker: bytes
) -> None:
    gateway = gateway_factory(upstream_read_timeout=0.5)
    gateway.emulator.add_fault(Fault.stall_stream(1, method="streamGenerateContent"))
    started = time.monotonic()
    answer = gateway.http().post(path, json=body)
    assert answer.status_code == 200
    assert time.monotonic() - started < 5
    assert b"stalled: nothing arrived for 0.5 s (upstream_read_timeout)" in answer.content
    assert marker in answer.content
    if path.startswith("/v1beta"):
        last = [line for line in answer.content.splitlines() if line.startswith(b"data: ")][-1]
        assert orjson.loads(last.removeprefix(b"data: "))["error"]["code"] == 504
    assert gateway.state.scheduler.in_flight == {}
