"""google.rpc.Status error bodies as the emulated Google services render them.

Every v1internal error is ``{"error": {"code", "message", "status", "details"?}}``. Handlers raise
:class:`RpcError`; the dispatcher turns it into a JSON response. The builders here are also
used by :mod:`antigravity_gateway.emulator.faults` so that scripted faults look exactly like
organic ones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "CLOUDCODE_DOMAIN",
    "UNAUTHENTICATED_MESSAGE",
    "VALIDATION_URL",
    "RpcError",
    "format_seconds",
    "quota_exhausted_body",
    "rate_limited_body",
    "rfc3339",
    "status_body",
    "status_name",
    "validation_required_body",
]

CLOUDCODE_DOMAIN: Final = "cloudcode-pa.googleapis.com"
UNAUTHENTICATED_MESSAGE: Final = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
VALIDATION_URL: Final = "https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=emulator"
EXHAUSTED_MESSAGE: Final = "Resource has been exhausted (e.g. check quota)."

_STATUS_NAMES: Final[dict[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES: Final[dict[int, str]] = {
    400: "Request contains an invalid argument.",
    401: UNAUTHENTICATED_MESSAGE,
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "The operation was aborted.",
    429: EXHAUSTED_MESSAGE,
    499: "The operation was cancelled.",
    500: "Internal error encountered.",
    501: "Operation is not implemented, or supported, or enabled.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


def status_name(code: int) -> str:
    """The canonical google.rpc.Code name for an HTTP status."""
    if code in _STATUS_NAMES:
        return _STATUS_NAMES[code]
    if 400 <= code < 500:
        return "FAILED_PRECONDITION"
    return "UNKNOWN"


def status_body(
    code: int,
    message: str | None = None,
    status: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A google.rpc.Status JSON body; defaults follow the real service's wording."""
    error: dict[str, Any] = {
        "code": code,
        "message": message if message is not None else _DEFAULT_MESSAGES.get(code, "Unknown error."),
        "status": status or status_name(code),
    }
    if details:
        error["details"] = details
    return {"error": error}


class RpcError(Exception):
    """Raised by handlers to answer with a google.rpc.Status body."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, status, details)
        self.headers = headers

    @classmethod
    def from_body(cls, code: int, body: dict[str, Any]) -> RpcError:
        err = cls(code, str(body.get("error", {}).get("message", "")))
        err.body = body
        return err


def rfc3339(ts: float) -> str:
    """``2026-01-02T03:04:05Z`` (UTC, second precision, ``Z`` suffix)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_seconds(seconds: float) -> str:
    """A protobuf Duration string: ``"3600s"``, ``"1.5s"``, ``"0.25s"``."""
    seconds = max(0.0, seconds)
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text or '0'}s"


def quota_exhausted_body(model: str | None, reset_seconds: float, now: float | None = None) -> dict[str, Any]:
    """429 RESOURCE_EXHAUSTED with ErrorInfo QUOTA_EXHAUSTED and RetryInfo."""
    now = time.time() if now is None else now
    delay = format_seconds(reset_seconds)
    metadata: dict[str, str] = {}
    if model:
        metadata["model"] = model
    metadata["quotaResetDelay"] = delay
    metadata["quotaResetTimeStamp"] = rfc3339(now + reset_seconds)
    return status_body(
        429,
        f"You have exhausted your capacity on this model. Your quota will reset after {delay}.",
        "RESOURCE_EXHAUSTED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": CLOUDCODE_DOMAIN,
                "metadata": metadata,
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )


def rate_limited_body(model: str | None, retry_delay: str) -> dict[str, Any]:
    """429 RESOURCE_EXHAUSTED with ErrorInfo RATE_LIMIT_EXCEEDED and RetryInfo."""
    metadata: dict[str, str] = {}
    if model:
        metadata["model"] = model
    metadata["quotaResetDelay"] = retry_delay
    metadata["quota_limit"] = "RequestsPerMinute_PerProject_PerUser"
    return status_body(
        429,
        EXHAUSTED_MESSAGE,
        "RESOURCE_EXHAUSTED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": CLOUDCODE_DOMAIN,
                "metadata": metadata,
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def validation_required_body() -> dict[str, Any]:
    """403 PERMISSION_DENIED with ErrorInfo VALIDATION_REQUIRED and a Help link."""
    return status_body(
        403,
        "Verify your account to continue.",
        "PERMISSION_DENIED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "VALIDATION_REQUIRED",
                "domain": CLOUDCODE_DOMAIN,
                "metadata": {
                    "validation_link": VALIDATION_URL,
                    "validation_error_message": "Verify your account",
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Verify your account", "url": VALIDATION_URL}],
            },
        ],
    )
