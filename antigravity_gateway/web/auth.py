"""Client authentication, as pure ASGI middleware.

The key may come in ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``?key=``; it is
compared in constant time and never forwarded upstream. Modes: ``off``; ``strict`` (every route);
``all_except_health`` (``/healthz`` is open); ``auto`` (off unless LAN access is on). With auth on and no
key configured every request fails closed, with a message naming the setting to set.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from antigravity_gateway.errors import AuthenticationError, GatewayError, TooManyRequests
from antigravity_gateway.settings import Settings
from antigravity_gateway.web.dialect import dialect_for, error_response
from antigravity_gateway.web.peer import client_ip
from antigravity_gateway.web.throttle import Throttle

_HEALTH_PATHS = frozenset({"/healthz", "/health", "/readyz"})
# The dashboard, its admin API and /metrics have their own login; Claude Code's connectivity probe is
# harmless.
_OPEN_PREFIXES = ("/api/hello",)
_ADMIN_PREFIXES = ("/api/", "/ui", "/metrics")


def client_key(headers: Headers, query_string: bytes) -> str:
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    for name in ("x-api-key", "x-goog-api-key"):
        if value := headers.get(name):
            return value.strip()
    if query_string and b"key=" in query_string:
        for name, value in parse_qsl(query_string.decode("latin-1")):
            if name == "key":
                return value.strip()
    return ""


def key_required(settings: Settings, path: str) -> bool:
    """Whether a request to ``path`` must carry the client key."""
    mode = settings.effective_auth_mode
    if mode == "off":
        return False
    return not (
        (mode == "all_except_health" and path in _HEALTH_PATHS)
        or path.startswith(_OPEN_PREFIXES)
        or path.startswith(_ADMIN_PREFIXES)
    )


class AuthMiddleware:
    """Reads the settings on every request, so a new key or mode applies at once."""

    def __init__(self, app: ASGIApp, settings: Settings, throttle: Throttle) -> None:
        self.app = app
        self.settings = settings
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not key_required(self.settings, path):
            await self.app(scope, receive, send)
            return
        mode = self.settings.effective_auth_mode
        headers = Headers(scope=scope)
        key = self.settings.api_key.encode()
        error: GatewayError
        if not key:
            error = AuthenticationError(
                f"authentication is on (auth mode {mode}) but no API key is configured: set AGW_API_KEY "
                "(or api_key in config.toml), or AGW_AUTH_MODE=off for a gateway on 127.0.0.1 only",
                google_status="UNAUTHENTICATED",
            )
        else:
            given = client_key(headers, scope.get("query_string", b"")).encode()
            if hmac.compare_digest(given, key):
                await self.app(scope, receive, send)
                return
            address = client_ip(scope, self.settings)
            wait = self.throttle.wait(address) if given else 0.0
            if not wait and given:
                wait = self.throttle.failure(address)
            if wait:
                error = TooManyRequests(
                    "too many requests with a wrong API key from this address: wait before trying again",
                    retry_after=wait,
                )
            else:
                error = AuthenticationError(
                    "missing API key" if not given else "invalid API key",
                    google_status="UNAUTHENTICATED",
                )
        response = error_response(error, dialect_for(path, headers))
        await response(scope, receive, send)
