from __future__ import annotations

import time

import orjson
import pytest

from antigravity_gateway.upstream.rpc_error import (
    parse_duration,
    parse_error,
    says_client_too_old,
    too_old_message,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.5s", 1.5),
        ("539.477544ms", 0.539477544),
        ("2h1m1s", 7261.0),
        ("51820.638305887s", 51820.638305887),
        ("0s", 0.0),
        ("", None),
        ("soon", None),
        ("5 s", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def _body(code: int, message: str, status: str, *details: dict[str, object]) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "status": status, "details": list(details)}}
    )


ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        pytest.param(
            429,
            _body(429, "Too many", "RESOURCE_EXHAUSTED", {"@type": RETRY_INFO, "retryDelay": "1.5s"}),
            None,
            "rate_limited",
            1.5,
            id="retry-info",
        ),
        pytest.param(
            429,
            _body(
                429,
                "You have exhausted your capacity on this model.",
                "RESOURCE_EXHAUSTED",
                {"@type": ERROR_INFO, "reason": "QUOTA_EXHAUSTED", "metadata": {"quotaResetDelay": "2h"}},
            ),
            None,
            "quota_exhausted",
            7200.0,
            id="quota-reset-delay",
        ),
        pytest.param(
            429,
            _body(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"),
            {"Retry-After": "7"},
            "rate_limited",
            7.0,
            id="bare-429-retry-after-header",
        ),
        pytest.param(
            429,
            _body(429, "Your quota will reset after 51s.", "RESOURCE_EXHAUSTED"),
            None,
            "quota_exhausted",
            51.0,
            id="delay-in-message",
        ),
        pytest.param(
            429,
            _body(
                429, "busy", "RESOURCE_EXHAUSTED", {"@type": ERROR_INFO, "reason": "MODEL_CAPACITY_EXHAUSTED"}
            ),
            None,
            "capacity_exhausted",
            None,
            id="capacity",
        ),
        pytest.param(
            403,
            _body(
                403,
                "Verify your account",
                "PERMISSION_DENIED",
                {
                    "@type": ERROR_INFO,
                    "reason": "VALIDATION_REQUIRED",
                    "metadata": {"validation_link": "https://v"},
                },
            ),
            None,
            "validation_required",
            None,
            id="validation",
        ),
        pytest.param(
            403, _body(403, "Permission denied", "PERMISSION_DENIED"), None, "forbidden", None, id="forbidden"
        ),
        pytest.param(
            401, _body(401, "bad token", "UNAUTHENTICATED"), None, "unauthenticated", None, id="401"
        ),
        pytest.param(503, b"<html>Service Unavailable</html>", None, "server", None, id="html-5xx"),
        pytest.param(
            400, _body(400, "Invalid JSON payload", "INVALID_ARGUMENT"), None, "client", None, id="400"
        ),
        pytest.param(
            404, _body(404, "Requested entity was not found.", "NOT_FOUND"), None, "not_found", None, id="404"
        ),
    ],
)
def test_parse_error(
    status: int, body: bytes, headers: dict[str, str] | None, kind: str, retry_after: float | None
) -> None:
    error = parse_error(status, body, headers)
    assert error.kind == kind
    assert error.retry_after == (pytest.approx(retry_after) if retry_after is not None else None)


def test_reset_timestamp_and_validation_link() -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    error = parse_error(
        429,
        _body(
            429,
            "quota",
            "RESOURCE_EXHAUSTED",
            {"@type": ERROR_INFO, "reason": "QUOTA_EXHAUSTED", "metadata": {"quotaResetTimeStamp": stamp}},
        ),
    )
    assert error.retry_after == pytest.approx(600, abs=2)
    error = parse_error(
        403,
        _body(
            403,
            "Verify",
            "PERMISSION_DENIED",
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://verify"}]},
        ),
    )
    assert error.validation_url == "https://verify"


def test_non_json_body_keeps_its_text_as_message() -> None:
    error = parse_error(502, b"upstream connect error")
    assert error.message == "upstream connect error"
    assert error.status == ""


# -- "this client is too old" ------------------------------------------------------------------------

_TOO_OLD = "This version of Antigravity is no longer supported. Please update to receive the latest features!"


@pytest.mark.parametrize(
    ("text", "too_old"),
    [
        (_TOO_OLD, True),
        (
            "This version of Antigravity is no longer supported. Please upgrade to receive the latest features.",
            True,
        ),
        (
            "Your current version of Antigravity is out of date. Please visit https://antigravity.google/download",
            True,
        ),
        ("This client is no longer supported for Gemini Code Assist for individuals", False),  # the plan
        ("Resource has been exhausted (e.g. check quota).", False),
    ],
)
def test_says_client_too_old(text: str, too_old: bool) -> None:
    assert says_client_too_old(text) is too_old
    assert (parse_error(400, _body(400, text, "FAILED_PRECONDITION")).kind == "client_too_old") is too_old


def test_too_old_is_its_own_kind_whatever_the_4xx() -> None:
    assert parse_error(403, _body(403, _TOO_OLD, "PERMISSION_DENIED")).kind == "client_too_old"
    assert parse_error(429, _body(429, _TOO_OLD, "RESOURCE_EXHAUSTED")).kind == "client_too_old"
    assert parse_error(503, _body(503, _TOO_OLD, "UNAVAILABLE")).kind == "server"


def _answer(text: str) -> dict[str, object]:
    return {"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}}


def test_too_old_message_in_a_200_answer() -> None:
    assert too_old_message({"error": {"code": 400, "message": _TOO_OLD}}) == _TOO_OLD
    assert too_old_message(_answer(_TOO_OLD)) == _TOO_OLD
    assert too_old_message([_answer(_TOO_OLD)]) == _TOO_OLD  # a streamed answer as a JSON array
    assert too_old_message(_answer(_TOO_OLD)["response"]) == _TOO_OLD  # unwrapped
    assert too_old_message(_TOO_OLD.encode()) == _TOO_OLD  # plain text
    assert too_old_message(_answer("Hello! " * 10)) is None
    assert too_old_message(_answer("Users report: " + _TOO_OLD + " " + "details " * 80)) is None  # quoted
    assert too_old_message({"response": {"candidates": []}}) is None
    assert too_old_message(b"<html>bad gateway</html>") is None
