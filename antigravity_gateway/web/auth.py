"""Client authentication, as pure ASGI middleware.

The key may come in ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``?key=``; it is never
forwarded upstream. It is the operator's key (``AGW_API_KEY``: every model, no limits, compared in
constant time) or a user key (``keys/``: looked up by its hash; revoked and expired keys are refused with
401, a key used from an address outside its ``ips`` with 403; its model rule and limits are applied by
the pipeline through :data:`~antigravity_gateway.keys.enforce.current_grant`, and the request is released
here once it has ended). Modes: ``off``; ``strict`` (every route); ``all_except_health`` (``/healthz`` is
open); ``auto`` (off unless LAN access is on, or a user key exists). With auth on and no key configured
every request fails closed, with a message naming the setting to set.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Literal
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from antigravity_gateway.errors import AuthenticationError, Forbidden, GatewayError, TooManyRequests
from antigravity_gateway.keys.enforce import Enforcer, Grant, current_grant, expiry_text
from antigravity_gateway.keys.table import Entry, KeyTable
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.request_log import current_record
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


def auth_mode(settings: Settings, user_keys: bool = False) -> Literal["off", "strict", "all_except_health"]:
    """The mode in force: :attr:`Settings.effective_auth_mode`, except that ``auto`` requires a key
    once a user key exists (``user_keys``; a revoked one too), also on a loopback address: a key with
    limits would mean nothing if a client could leave it out."""
    mode = settings.effective_auth_mode
    if mode == "off" and user_keys and settings.auth_mode == "auto":
        return "all_except_health"
    return mode


def key_required(settings: Settings, path: str, user_keys: bool = False) -> bool:
    """Whether a request to ``path`` must carry a client key."""
    mode = auth_mode(settings, user_keys)
    if mode == "off":
        return False
    return not (
        (mode == "all_except_health" and path in _HEALTH_PATHS)
        or path.startswith(_OPEN_PREFIXES)
        or path.startswith(_ADMIN_PREFIXES)
    )


class AuthMiddleware:
    """Reads the settings and the key table on every request, so a new key or mode applies at once."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        throttle: Throttle,
        keys: KeyTable | None = None,
        enforcer: Enforcer | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.throttle = throttle
        self.keys = keys if keys is not None else KeyTable()
        self.enforcer = enforcer if enforcer is not None else Enforcer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not key_required(self.settings, path, self.keys.active):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        operator = self.settings.api_key.encode()
        given = client_key(headers, scope.get("query_string", b""))
        if operator and hmac.compare_digest(given.encode(), operator):
            await self.app(scope, receive, send)
            return
        error: GatewayError
        entry = self.keys.lookup(given)
        if entry is not None:
            refused = self._refusal(entry, scope)
            if refused is None:
                await self._serve(entry, scope, receive, send)
                return
            error = refused
            if (record := current_record.get()) is not None:
                record.key_name = entry.key.name
        elif not operator and not self.keys.active:
            mode = auth_mode(self.settings, self.keys.active)
            error = AuthenticationError(
                f"authentication is on (auth mode {mode}) but no API key is configured: set AGW_API_KEY "
                "(or api_key in config.toml) or add a user key (`agw keys add`), or AGW_AUTH_MODE=off for "
                "a gateway on 127.0.0.1 only",
                google_status="UNAUTHENTICATED",
            )
        else:
            error = self._wrong_key(scope, given)
        response = error_response(error, dialect_for(path, headers))
        await response(scope, receive, send)

    def _wrong_key(self, scope: Scope, given: str) -> GatewayError:
        address = client_ip(scope, self.settings)
        wait = self.throttle.wait(address) if given else 0.0
        if not wait and given:
            wait = self.throttle.failure(address)
        if wait:
            return TooManyRequests(
                "too many requests with a wrong API key from this address: wait before trying again",
                retry_after=wait,
            )
        return AuthenticationError(
            "missing API key" if not given else "invalid API key", google_status="UNAUTHENTICATED"
        )

    def _refusal(self, entry: Entry, scope: Scope) -> GatewayError | None:
        """Why a known user key may not be used now (``None``: it may). Revoked and expired keys count as
        failed attempts of their address, like wrong keys."""
        key = entry.key
        state = key.state()
        if state != "active":
            address = client_ip(scope, self.settings)
            if wait := self.throttle.wait(address) or self.throttle.failure(address):
                return TooManyRequests(
                    "too many requests with a wrong API key from this address: wait before trying again",
                    retry_after=wait,
                )
            if state == "revoked":
                message = f"the API key {key.name!r} was revoked"
            else:
                message = f"the API key {key.name!r} expired on {expiry_text(key.expires_at)}"
            return AuthenticationError(message, google_status="UNAUTHENTICATED")
        if entry.networks:
            address = client_ip(scope, self.settings)
            if not entry.address_allowed(address):
                return Forbidden(f"the API key {key.name!r} may not be used from the address {address}")
        return None

    async def _serve(self, entry: Entry, scope: Scope, receive: Receive, send: Send) -> None:
        grant = self.enforcer.grant(entry)
        record = current_record.get()
        if record is not None:
            record.key_name = entry.key.name
        token = current_grant.set(grant)
        key = entry.key
        try:
            await self.app(
                scope, receive, _with_rate_headers(send, grant) if key.rpm or key.tokens_per_day else send
            )
        finally:
            current_grant.reset(token)
            if grant.attempted:
                # The request has ended (a stream: after its last byte). Shielded: a cancellation of this
                # task (shutdown) must not leave the slot taken until it expires.
                await asyncio.shield(grant.release(record))
            else:
                grant.forget()


def _with_rate_headers(send: Send, grant: Grant) -> Send:
    """``send`` adding the key's ``x-ratelimit-*`` headers to the answer of an admitted request."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start" and (extra := grant.response_headers()):
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers
