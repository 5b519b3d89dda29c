"""The v1internal envelope in its two forms: Antigravity's and gemini-cli's."""

from __future__ import annotations

import orjson

from antigravity_gateway.upstream import envelope

REQUEST = {
    "model": "ignored",
    "contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "again"}]},
    ],
}


def _wrap(style: str, request_type: str = "agent") -> dict[str, object]:
    body = envelope.wrap(
        REQUEST,
        model="gemini-2.5-flash",
        project="p",
        session_id="-42",
        request_type=request_type,
        style=style,
    )
    result: dict[str, object] = orjson.loads(body)
    return result


def test_antigravity_form() -> None:
    body = _wrap("antigravity")
    assert body["userAgent"] == "antigravity" and body["requestType"] == "agent"
    assert str(body["requestId"]).startswith("agent/")
    assert body["request"] == {"contents": REQUEST["contents"], "sessionId": "-42"}


def test_gemini_cli_form() -> None:
    body = _wrap("gemini-cli")
    assert body == {
        "model": "gemini-2.5-flash",
        "project": "p",
        "user_prompt_id": "-42########2",
        "request": {"contents": REQUEST["contents"], "session_id": "-42"},
    }
    assert _wrap("gemini-cli", "image_gen")["requestType"] == "image_gen"  # image models take no other
    assert "model" in REQUEST  # not mutated
