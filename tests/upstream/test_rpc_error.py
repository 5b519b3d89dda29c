from __future__ import annotations

import time

import orjson
import pytest

from antigravity_gateway.upstream.rpc_error import parse_duration, parse_error


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
