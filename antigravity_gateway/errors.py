"""The one exception tree of the gateway. Each protocol adapter renders these in its own wire format.

::

    GatewayError                      status, message, google-style status name, retry_after, headers
    ├── ClientRequestError            4xx caused by the client's request
    │   ├── InvalidRequest            400 malformed JSON, missing or wrong fields
    │   ├── NotFound                  404 unknown route, model or method
    │   ├── PayloadTooLarge           413 body over ``max_body_bytes``
    │   ├── UnsupportedMediaType      415 an admin write without a JSON body type
    │   └── ClientDisconnected        499 the client hung up before the answer (only logged)
    ├── AuthenticationError           401 missing or wrong gateway key, a revoked or expired user key
    │                                 (never the upstream's 401)
    ├── Forbidden                     403 refused by the browser policy (Host, Origin), the LAN posture,
    │                                 ip_allow/ip_deny, or a user key's models or addresses
    ├── TooManyRequests               429 an address that failed too often waits, or a user key is over
    │                                 its rpm, concurrency or tokens per day (retry_after; x-ratelimit-*
    │                                 headers)
    ├── GatewayTimeout                504 request_timeout / attempt_timeout / a stalled upstream stream
    ├── Overloaded                    503 too many large bodies at once (retry_after set)
    ├── StoreUnavailable              503 the shared store (Redis) cannot be reached: a token refresh,
    │                                 an account change or a start that needs it (URL redacted)
    ├── UpstreamError                 the upstream answered with an error that is passed on
    │   ├── UpstreamUnavailable       network errors / 5xx on every endpoint
    │   │   └── ProxyFailed           502 an upstream proxy could not carry the call (named, password
    │   │                             redacted; the proxy's fault: no cooldown on the account)
    │   └── ClientTooOld              502 Google says the client (its User-Agent) is too old
    ├── NoAccountAvailable            503 no enabled account at all
    │   └── AllAccountsCoolingDown    429 every account is cooling down; retry_after = soonest recovery
    ├── AccountError                  problems with one account (CLI / admin paths)
    │   ├── OAuthError                token endpoint refused (invalid_client, unauthorized_client, ...)
    │   │   └── InvalidGrant          refresh token revoked or expired: the account needs a new login
    │   ├── ProjectSetupError         loadCodeAssist/onboardUser could not give a project
    │   └── ValidationRequired        Google wants the user to verify the account (link attached)
    └── SecretKeyError                500 the store's tokens are encrypted and AGW_SECRET_KEY is missing
                                      or wrong (the key itself is never in the message)

Messages never contain secrets: callers pass only emails, ids and upstream messages.
"""

from __future__ import annotations

from typing import Any

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_name(code: int) -> str:
    """The google.rpc.Code name Google uses for an HTTP status."""
    if code in _STATUS_NAMES:
        return _STATUS_NAMES[code]
    return "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"


class GatewayError(Exception):
    """Base of every error the gateway turns into an HTTP answer."""

    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        google_status: str | None = None,
        retry_after: float | None = None,
        details: list[Any] | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.google_status = google_status or status_name(self.status)
        self.retry_after = retry_after
        self.details = details or []
        self.param = param
        #: Extra response headers (a user key's ``x-ratelimit-*``), in every API's rendering.
        self.headers = headers or {}


class ClientRequestError(GatewayError):
    status = 400


class InvalidRequest(ClientRequestError):
    status = 400


class NotFound(ClientRequestError):
    status = 404


class PayloadTooLarge(ClientRequestError):
    status = 413


class UnsupportedMediaType(ClientRequestError):
    status = 415


class ClientDisconnected(ClientRequestError):
    status = 499


class AuthenticationError(GatewayError):
    status = 401


class Forbidden(GatewayError):
    status = 403


class TooManyRequests(GatewayError):
    status = 429


class GatewayTimeout(GatewayError):
    status = 504


class Overloaded(GatewayError):
    status = 503


class StoreUnavailable(GatewayError):
    """The shared store (Redis) cannot be reached. The message names its URL without the password."""

    status = 503


class UpstreamError(GatewayError):
    """An error answer from v1internal. ``reason`` is the ErrorInfo reason when there was one."""

    status = 502

    def __init__(self, message: str, *, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class UpstreamUnavailable(UpstreamError):
    status = 503


class ProxyFailed(UpstreamUnavailable):
    """A proxy could not carry a call to Google (down, refused the credentials, broke the handshake).

    The proxy's fault, not the account's: no cooldown. ``proxy`` is the URL with its password redacted."""

    status = 502

    def __init__(self, proxy: str, what: str) -> None:
        super().__init__(f"upstream proxy {proxy} failed: {what}", reason="PROXY_FAILED")
        self.proxy = proxy


class ClientTooOld(UpstreamError):
    """Google refuses the gateway's client as outdated: a setting to change, not the account's fault."""

    status = 502

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("google_status", "FAILED_PRECONDITION")
        super().__init__(message, **kwargs)


class NoAccountAvailable(GatewayError):
    status = 503


class AllAccountsCoolingDown(NoAccountAvailable):
    status = 429


class AccountError(GatewayError):
    status = 502


class OAuthError(AccountError):
    def __init__(self, message: str, *, error: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error = error


class InvalidGrant(OAuthError):
    status = 401


class ProjectSetupError(AccountError):
    pass


class ValidationRequired(AccountError):
    status = 403

    def __init__(self, message: str, *, validation_url: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.validation_url = validation_url


class SecretKeyError(GatewayError):
    """The store's tokens are encrypted and the secret key is missing or wrong (never named in the message)."""

    status = 500
