"""The browser policy, as pure ASGI middleware in front of everything else: Host, Origin and CORS.

A gateway on 127.0.0.1 is reachable by every web page the user opens. Two kinds of request from such a
page are refused here, before any work is done (see docs/security.md):

- a foreign ``Host`` (a DNS-rebinding attack, whose answers the page could read): while the gateway is
  not exposed to the network, only loopback names (``localhost``, ``*.localhost``, 127.0.0.0/8,
  ``[::1]``) and ``allowed_hosts`` are accepted; once exposed, any ``Host`` unless ``allowed_hosts`` is set;
- a foreign ``Origin`` (a cross-site request, whose effects happen even when the page cannot read the
  answer): refused on the admin API, ``/metrics`` and the dashboard always (only the gateway's own pages
  may use them), and on the client APIs whenever they need no client key (there ``cors_origins`` are
  allowed too).
  Requests without ``Origin`` (SDKs, curl, CLIs) are not affected.

CORS preflights are answered for allowed origins only. State-changing admin requests must carry a JSON
body type, which a cross-site page cannot send without a preflight.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from antigravity_gateway.errors import Forbidden, GatewayError, UnsupportedMediaType
from antigravity_gateway.settings import Settings, is_loopback_name
from antigravity_gateway.web.auth import key_required
from antigravity_gateway.web.dialect import dialect_for, error_response
from antigravity_gateway.web.peer import from_trusted_proxy

logger = logging.getLogger(__name__)

#: Request headers a browser client of the three APIs sends (besides the CORS-safelisted ones).
ALLOWED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "x-api-key",
        "x-goog-api-key",
        "x-goog-api-client",
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "openai-organization",
        "openai-project",
        "openai-beta",
        "accept",
        "accept-language",
        "content-language",
    }
)
ALLOWED_REQUEST_HEADER_PREFIXES = ("x-stainless-",)
EXPOSED_HEADERS = (
    "retry-after, x-agw-upstream-model, x-request-id, request-id, "
    "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
    "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens"
)
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
PREFLIGHT_MAX_AGE = "600"

_ADMIN_PREFIXES = ("/api/", "/ui", "/metrics")  # /metrics: protected like the admin API
_OPEN_PATHS = frozenset({"/api/hello"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_LOG_EVERY = 60.0
#: Scope key: the ``send`` a streamed body's chunks may use, past the wrappers that only look at the
#: response start (``web/streaming.py``); a middleware that must see body chunks sets its own.
BODY_SEND = "agw.body_send"
_LOG_TABLE_MAX = 256
_HOST_TABLE_MAX = 256


def split_host(value: str) -> tuple[str, str]:
    """``("name", "port")`` of a ``Host`` header value or URL netloc (the port may be empty)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, ""
        name, rest = value[: end + 1], value[end + 1 :]
        return name, rest[1:] if rest.startswith(":") else ""
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name.rstrip("."), port


def host_allowed(host: str, settings: Settings) -> bool:
    """The ``Host`` rule: loopback names and ``allowed_hosts`` while not exposed; anything when exposed
    and ``allowed_hosts`` is empty."""
    allowed = settings.allowed_hosts
    if settings.exposed and not allowed:
        return True
    name, _ = split_host(host)
    if is_loopback_name(name) or "*" in allowed:
        return True
    for pattern in allowed:
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False


def _normalised(origin: str) -> tuple[str, str, str] | None:
    scheme, sep, netloc = origin.strip().lower().partition("://")
    if not sep or scheme not in _DEFAULT_PORTS or not netloc or "/" in netloc:
        return None
    name, port = split_host(netloc)
    return scheme, name, port or _DEFAULT_PORTS[scheme]


def posture_warnings(settings: Settings) -> list[str]:
    """What ``agw serve`` should tell the operator about how exposed the gateway is."""
    warnings = []
    if settings.exposed:
        where = "LAN access is on" if settings.allow_lan else f"it listens on {settings.bind_host}"
        if not settings.api_key:
            warnings.append(
                f"{where} and AGW_API_KEY is empty: every client request will be refused until you set one"
            )
        if settings.auth_mode == "off":
            warnings.append(f"{where}: auth_mode = off is ignored, clients must send the API key")
        if not settings.admin_password:
            warnings.append(
                f"{where} and no admin password is set: the dashboard and admin API stay closed; set "
                "AGW_ADMIN_PASSWORD (or `agw config set admin_password ...`) to open them"
            )
    elif settings.effective_auth_mode != "off" and not settings.api_key:
        warnings.append("authentication is on but AGW_API_KEY is empty: every request will be refused")
    return warnings


class OriginPolicy:
    """Which origins may talk to the gateway: its own, and ``cors_origins`` (``*`` is any)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def own(self, origin: str, scope: Scope, headers: Headers) -> bool:
        parsed = _normalised(origin)
        if parsed is None:
            return False
        host = headers.get("host", "")
        if from_trusted_proxy(scope, self.settings):
            host = headers.get("x-forwarded-host", "").split(",")[0].strip() or host
        if not host:
            return False
        scheme, name, port = parsed
        host_name, host_port = split_host(host)
        return (name, port) == (host_name, host_port or _DEFAULT_PORTS[scheme])

    def listed(self, origin: str) -> bool:
        listed = self.settings.cors_origins
        if not listed:
            return False
        if "*" in listed:
            return True
        value = origin.strip().rstrip("/").lower()
        if value in listed:
            return True
        parsed = _normalised(value)
        return parsed is not None and any(_normalised(o) == parsed for o in listed)


class SecurityMiddleware:
    """Host check, Origin policy, CORS and the JSON rule for admin writes, in that order.

    Settings are read on every request, so a change made in the dashboard or config.toml applies at once.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.origins = OriginPolicy(settings)
        self._logged: dict[str, float] = {}
        self._hosts: dict[bytes, bool] = {}
        self._host_stamp: tuple[object, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[BODY_SEND] = send
        host_raw = origin_raw = None
        for name, value in scope["headers"]:  # the two headers the hot path needs, without a Headers
            if name == b"host":
                host_raw = host_raw or value
            elif name == b"origin":
                origin_raw = origin_raw or value
        path: str = scope["path"]
        if host_raw is not None and not self._host_ok(host_raw):
            host = host_raw.decode("latin-1")
            self._note("host", host)
            await self._refuse(
                scope,
                receive,
                send,
                Forbidden(
                    f"this gateway does not answer for the host name {host[:100]!r}: add it to allowed_hosts "
                    "(AGW_ALLOWED_HOSTS) if you reach the gateway by that name"
                ),
            )
            return
        if origin_raw is None and not path.startswith(_ADMIN_PREFIXES):
            await self.app(scope, receive, send)  # a tool calling a client API: the common case
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        admin = path.startswith(_ADMIN_PREFIXES) and path not in _OPEN_PATHS
        method: str = scope["method"]
        if origin is None:
            if admin and not self._plain_navigation(headers, method):
                self._note("fetch-site", headers.get("sec-fetch-site", ""))
                await self._refuse(
                    scope,
                    receive,
                    send,
                    Forbidden("cross-site requests to the dashboard and admin API are refused"),
                )
                return
            await self._admin_write(scope, receive, send, headers, admin, method)
            return
        own = self.origins.own(origin, scope, headers)
        # cors_origins open the client APIs to other sites; the admin API answers its own pages only.
        listed = not own and not admin and self.origins.listed(origin)
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if not (own or listed):
            # A foreign origin: its preflights are refused; its requests are refused where they need no key.
            if preflight or admin or not key_required(self.settings, path):
                self._note("origin", origin)
                await self._refuse(
                    scope,
                    receive,
                    send,
                    Forbidden(
                        f"requests from the web origin {origin[:200]!r} are refused: add it to cors_origins "
                        "(AGW_CORS_ORIGINS) to let that site use the gateway"
                    ),
                )
                return
            await self.app(scope, receive, send)
            return
        if preflight:
            await self._preflight(scope, receive, send, headers, origin)
            return
        if listed:
            send = _with_cors_headers(send, origin)
        await self._admin_write(scope, receive, send, headers, admin, method)

    def _host_ok(self, raw: bytes) -> bool:
        """:func:`host_allowed`, remembered per ``Host`` value (a bounded table, emptied when the settings
        it depends on are replaced): the same few names come on every request."""
        settings = self.settings
        stamp = (settings.host, settings.allow_lan, id(settings.allowed_hosts))
        if stamp != self._host_stamp:
            self._hosts.clear()
            self._host_stamp = stamp
        ok = self._hosts.get(raw)
        if ok is None:
            ok = host_allowed(raw.decode("latin-1"), settings)
            if len(self._hosts) >= _HOST_TABLE_MAX:
                self._hosts.clear()
            self._hosts[raw] = ok
        return ok

    @staticmethod
    def _plain_navigation(headers: Headers, method: str) -> bool:
        """Without ``Origin``: a request from a tool (no ``Sec-Fetch-Site``), from the user (``none``), from
        the gateway's own pages, or a top-level navigation (links, Google's redirect after a login)."""
        site = headers.get("sec-fetch-site")
        if site is None or site in ("same-origin", "none"):
            return True
        return method == "GET" and headers.get("sec-fetch-mode") == "navigate"

    async def _admin_write(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, admin: bool, method: str
    ) -> None:
        if admin and method in _WRITE_METHODS:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/json":
                await self._refuse(
                    scope,
                    receive,
                    send,
                    UnsupportedMediaType(
                        "admin API requests that change something must send Content-Type: application/json"
                    ),
                )
                return
        await self.app(scope, receive, send)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, origin: str
    ) -> None:
        requested = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        refused = [
            h
            for h in requested
            if h not in ALLOWED_REQUEST_HEADERS and not h.startswith(ALLOWED_REQUEST_HEADER_PREFIXES)
        ]
        if refused:
            await self._refuse(
                scope, receive, send, Forbidden(f"request headers not allowed: {', '.join(refused)[:200]}")
            )
            return
        response_headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        if requested:
            response_headers.append((b"access-control-allow-headers", ", ".join(requested).encode("latin-1")))
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: GatewayError) -> None:
        headers = Headers(scope=scope)
        response = error_response(error, dialect_for(scope["path"], headers))
        await response(scope, receive, send)

    def _note(self, what: str, value: str) -> None:
        """One log line per refused value a minute, in a bounded table: a hostile page cannot flood the log."""
        key = f"{what}:{value[:200]}"
        now = time.monotonic()
        if now - self._logged.get(key, -_LOG_EVERY) < _LOG_EVERY:
            return
        if len(self._logged) >= _LOG_TABLE_MAX:
            self._logged.clear()
        self._logged[key] = now
        logger.warning("refused a request: %s %r is not allowed (see `agw help security`)", what, value[:200])


def _with_cors_headers(send: Send, origin: str) -> Send:
    extra = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]

    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return cors_send
