"""Secrets (refresh tokens, access tokens, client keys, client secrets) never reach the log or an error."""

from __future__ import annotations

import logging

import pytest

from antigravity_gateway.emulator import Fault
from antigravity_gateway.server import RedactingFilter
from tests.conftest import CLIENT_SECRET, GatewayFactory, make_account

KEY = "sk-very-secret-client-key"


def test_nothing_secret_is_logged_on_any_path(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = gateway_factory(
        [make_account("alice@example.com", rotate_refresh_token=True), make_account("bob@example.com")],
        api_key=KEY,
        auth_mode="strict",
    )
    emu = gateway.emulator
    http = gateway.http(headers={"x-goog-api-key": KEY})
    body = {"contents": [{"parts": [{"text": "a perfectly ordinary question"}]}]}
    url = "/v1beta/models/gemini-2.5-flash:generateContent"
    emu.expire_access_tokens()  # 401 → forced refresh, rotated refresh token
    assert http.post(url, json=body).status_code == 200
    emu.add_fault(Fault.rate_limited(retry_delay="30s", times=1))
    emu.add_fault(Fault.server_error(status=503, times=1))
    http.post(url, json=body)
    emu.revoke("1//bob")
    emu.expire_access_tokens("bob@example.com")
    for i in range(3):
        http.post(url, json={"contents": [{"parts": [{"text": f"question {i} for invalid grant"}]}]})
    gateway.http().post(url, json=body, params={"key": "wrong-key-in-query"})
    gateway.http().post(url, json=body, headers={"authorization": "Bearer wrong-bearer-key"})

    secrets = {KEY, CLIENT_SECRET, "wrong-key-in-query", "wrong-bearer-key", "1//alice", "1//bob"}
    secrets |= {a.refresh_token for a in gateway.state.pool.accounts.values()}
    secrets |= {a.access_token for a in gateway.state.pool.accounts.values() if a.access_token}
    ours = ("antigravity_gateway", "uvicorn", "aiohttp", "asyncio", "starlette")
    text = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records if r.name.startswith(ours)
    )  # (the test's own HTTP client logs its URLs: not the gateway's)
    assert "refresh" in text.lower() or "invalid_grant" in text  # the log did record what happened
    for secret in secrets:
        assert secret not in text
    assert "ya29." not in text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("token ya29.a0AfB_abc-123 used", "token ya29.<redacted> used"),
        ("refresh 1//0gAbc-xyz failed", "refresh 1//<redacted> failed"),
        ("header Bearer abc.def-ghi", "header Bearer <redacted>"),
        ("GET /v1beta/models?key=sk-123&alt=sse", "GET /v1beta/models?key=<redacted>&alt=sse"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_redacting_filter(message: str, expected: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, None, None)
    RedactingFilter().filter(record)
    assert record.getMessage() == expected
