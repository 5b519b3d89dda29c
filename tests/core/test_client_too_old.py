"""Google says "This version of Antigravity is no longer supported": a setting to change, no account's fault.

The emulator refuses an Antigravity User-Agent below ``min_client_version``, as a 4xx or as a 200 whose
answer is that message.
"""

from __future__ import annotations

import pytest

from antigravity_gateway.emulator import Emulator, Fault
from antigravity_gateway.emulator.v1internal import TOO_OLD_MESSAGE
from tests.conftest import GatewayFactory, make_account

ACCOUNTS = ("alice@example.com", "bob@example.com")
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def _outdated(emulator: Emulator, status: int) -> None:
    emulator.min_client_version = (2, 10, 0)  # the gateway's default User-Agent is antigravity/2.9.1
    emulator.too_old_status = status


@pytest.mark.parametrize("status", [400, 200])
@pytest.mark.parametrize("path", [GENERATE, STREAM])
def test_too_old_is_answered_clearly_and_sets_no_account_aside(
    gateway_factory: GatewayFactory, status: int, path: str
) -> None:
    gateway = gateway_factory([make_account(email) for email in ACCOUNTS])
    _outdated(gateway.emulator, status)
    reply = gateway.http().post(path, json=BODY)
    assert reply.status_code == 502, reply.text
    message = reply.json()["error"]["message"]
    assert "upstream_user_agent" in message and "antigravity/2.9.1 linux/amd64" in message
    assert "'primary'" in message  # the profile of the test's accounts (a custom client)
    assert "no longer supported" in message

    state = gateway.state
    assert state.scheduler.cooldowns == {}
    assert {a.status for a in state.pool.accounts.values()} == {"enabled"}
    generated = [r for r in gateway.emulator.requests if r.method.endswith("enerateContent")]
    assert {r.account_email for r in generated} == {
        generated[0].account_email
    }  # no rotation through the pool
    said = state.pipeline.http.client_too_old()
    assert said is not None and said.user_agent == "antigravity/2.9.1 linux/amd64"
    assert said.message == TOO_OLD_MESSAGE


def test_the_openai_and_anthropic_apis_say_it_too(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory()
    _outdated(gateway.emulator, 403)
    http = gateway.http()
    chat = http.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 502 and "upstream_user_agent" in chat.json()["error"]["message"]
    messages = http.post(
        "/v1/messages",
        json={"model": "gemini-2.5-flash", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert messages.status_code >= 500 and "upstream_user_agent" in messages.json()["error"]["message"]


def test_a_newer_user_agent_works_and_clears_the_signal(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(upstream_user_agent="antigravity/2.10.0 linux/amd64")
    _outdated(gateway.emulator, 400)
    gateway.emulator.add_fault(  # one endpoint still says it, as a 200: the next one is tried
        Fault(
            endpoint="sandbox",
            method="generateContent",
            status=200,
            body={"error": {"code": 400, "message": TOO_OLD_MESSAGE, "status": "FAILED_PRECONDITION"}},
        )
    )
    http = gateway.http()
    reply = http.post(GENERATE, json=BODY)
    assert reply.status_code == 200, reply.text
    tried = [r.endpoint for r in gateway.emulator.requests if r.method == "generateContent"]
    assert tried == ["sandbox", "daily"]
    assert gateway.state.pipeline.http.client_too_old() is None  # the last answer was a good one
