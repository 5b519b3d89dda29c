"""What API clients are told when the pool cannot serve: counts and reasons, never which accounts,
and only the upstream error details that name no account, project or token."""

from __future__ import annotations

import orjson

from antigravity_gateway.emulator import Fault
from tests.conftest import GatewayFactory, make_account

URL = "/v1beta/models/gemini-2.5-flash:generateContent"


def ask(text: str = "Tell me something new") -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_no_usable_account_names_no_account(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account("alice@example.com"), make_account("bob@example.com")])
    emu = gateway.emulator
    for token in ("1//alice", "1//bob"):
        emu.revoke(token)
    emu.expire_access_tokens()
    assert gateway.http().post(URL, json=ask()).status_code != 200  # both are found revoked
    for protocol_url, body in [
        (URL, ask()),
        (
            "/v1/chat/completions",
            {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
        ),
        (
            "/v1/messages",
            {"model": "claude-sonnet-4-6", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
        ),
    ]:
        answer = gateway.http().post(protocol_url, json=body)
        assert answer.status_code in (503, 529), answer.text  # Anthropic says 529 (overloaded)
        assert "@" not in answer.text and "alice" not in answer.text and "bob" not in answer.text
        assert "2 in the pool: 2 invalid_grant (refresh token refused: invalid_grant" in answer.text


def test_gemini_errors_pass_on_only_safe_details(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory()
    project = gateway.accounts[0].project_id
    assert project
    body = {
        "error": {
            "code": 400,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"consumer": f"projects/{project}", "model": "gemini-2.5-flash"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"subject": f"project:{project}", "description": "alice@example.com"}],
                },
                {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": "ya29.secret-token"},
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {"description": "docs", "url": "https://ai.google.dev/docs"},
                        {"description": "verify", "url": "https://accounts.google.com/v?token=secret"},
                    ],
                },
            ],
        }
    }
    gateway.emulator.add_fault(Fault(status=400, body=body, method="generateContent"))
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 400
    details = orjson.loads(answer.content)["error"]["details"]
    assert details == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"model": "gemini-2.5-flash"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "docs", "url": "https://ai.google.dev/docs"}],
        },
    ]
    assert project not in answer.text and "secret" not in answer.text and "alice" not in answer.text
