"""Upstream proxies: which proxy a call to Google goes through, their health and their counters.

The proxy of a call is, first found wins: the account's own ``proxy_url``; for an account, its sticky
proxy of the ``upstream_proxies`` pool (accounts are spread over the healthy proxies, the least loaded
first, and stay there); ``upstream_proxy``; and with none of these, the standard ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``ALL_PROXY`` variables with ``NO_PROXY``. A configured proxy is used for every host,
loopback included.

A pool proxy that fails (a health check, or a call it could not carry) is skipped until a health check
passes again; its accounts go to another healthy proxy meanwhile and come back afterwards. A proxy's
failure is the proxy's, not the account's: :class:`~antigravity_gateway.errors.ProxyFailed` names the proxy (password redacted) and
sets no cooldown. Proxy URLs hold passwords: show them only through :func:`redact`.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp_socks
from aiohttp_socks import ProxyConnector, ProxyType

from antigravity_gateway.errors import ProxyFailed

__all__ = [
    "ProxyFailed",
    "ProxyHealth",
    "ProxyPool",
    "check_proxy",
    "check_url",
    "env_proxies",
    "env_proxy",
    "redact",
]

#: The proxy URL schemes the gateway speaks (``socks5h``: the proxy resolves host names).
SCHEMES = ("http", "https", "socks5", "socks5h")

#: Exceptions a proxy raises while a connection through it is set up (SOCKS handshake, refused
#: credentials: a SOCKS proxy may just hang up, an EOF during the handshake).
PROXY_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientProxyConnectionError,
    aiohttp.ClientHttpProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyTimeoutError,
    asyncio.IncompleteReadError,
)

_CHECK_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError, OSError, *PROXY_ERRORS)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (``socks5://user:***@host:1080``)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid proxy URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    netloc = f"{name}:***@{host}" if ":" in user else f"{name}@{host}"
    return parts._replace(netloc=netloc).geturl()


def check_url(url: str) -> str:
    """``url`` stripped, if it is a proxy URL the gateway speaks; else :class:`ValueError` (redacted)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{redact(url)!r} is not a valid proxy URL") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(
            f"{redact(url)!r} is not a proxy URL: write scheme://[user:password@]host:port with a "
            f"scheme of {', '.join(SCHEMES)}"
        )
    if not parts.hostname:
        raise ValueError(f"{redact(url)!r} has no host")
    if parts.scheme.startswith("socks") and port is None:
        raise ValueError(f"{redact(url)!r} needs a port (SOCKS has no default one)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{redact(url)!r}: a proxy URL has no path, query or fragment")
    return url


def env_proxies() -> dict[str, str]:
    """The standard proxy variables (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...), read once per
    client: scanning the environment on every call cost tens of µs per request."""
    return urllib.request.getproxies_environment()


def env_proxy(url: str, proxies: dict[str, str] | None = None) -> str:
    """The proxy the standard variables (``proxies``, default: the environment now) give for ``url``
    (``""``: none, or ``NO_PROXY`` excludes it)."""
    if proxies is None:
        proxies = env_proxies()
    if not proxies:
        return ""
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all") or ""
    if not proxy:
        return ""
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
    if proxies.get("no") and bypass(parts.netloc, proxies):
        return ""
    return proxy


def is_socks(url: str) -> bool:
    return url.startswith(("socks5://", "socks5h://"))


def socks_connector(url: str, **kwargs: Any) -> ProxyConnector:
    """An aiohttp connector through the SOCKS5 proxy ``url`` (``socks5h``: the proxy resolves names)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return ProxyConnector(
        host=parts.hostname,
        port=parts.port,
        proxy_type=ProxyType.SOCKS5,
        username=parts.username or None,
        password=parts.password or None,
        rdns=parts.scheme == "socks5h",
        **kwargs,
    )


def describe(exc: BaseException) -> str:
    """A short text for an error raised through a proxy (no URL: callers name the proxy, redacted)."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the proxy closed the connection during the handshake (refused credentials?)"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy answered {exc.status} {exc.message}".rstrip()
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return exc.__class__.__name__ + (f": {text}" if text else "")


@dataclass(slots=True, frozen=True)
class ProxyHealth:
    """The result of :func:`check_proxy`. ``proxy`` is redacted; ``status`` is the target's answer."""

    proxy: str
    ok: bool
    latency_ms: float
    error: str = ""
    status: int = 0


#: What :func:`check_proxy` asks for by default: Google's v1internal host (any answer will do).
GOOGLE = "https://cloudcode-pa.googleapis.com/"


async def check_proxy(url: str, target: str = GOOGLE, *, timeout: float = 10.0) -> ProxyHealth:
    """Whether ``url`` carries a request to ``target`` (any HTTP answer of the target counts; pass
    ``health_target(settings.upstream_endpoints)`` to check the way to the configured endpoints).

    A 407 (credentials refused) or any failure to connect through the proxy fails the check."""
    started = time.monotonic()
    connector: aiohttp.BaseConnector = socks_connector(url) if is_socks(url) else aiohttp.TCPConnector()
    kwargs: dict[str, Any] = {} if is_socks(url) else {"proxy": url}
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as s,
            s.get(target, allow_redirects=False, **kwargs) as resp,
        ):
            await resp.read()
            status = resp.status
    except _CHECK_ERRORS as exc:
        return ProxyHealth(redact(url), False, _ms(started), describe(exc))
    if status == 407:
        return ProxyHealth(redact(url), False, _ms(started), "the proxy refused the credentials (407)", 407)
    return ProxyHealth(redact(url), True, _ms(started), "", status)


def health_target(endpoints: Iterable[str]) -> str:
    """What a health check asks for: the root of the first v1internal host (any answer will do)."""
    parts = urlsplit(next(iter(endpoints)))
    return f"{parts.scheme}://{parts.netloc}/"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


@dataclass(slots=True)
class ProxyState:
    """One pool proxy as the dashboard shows it (counters since the gateway started)."""

    url: str
    healthy: bool = True
    requests: int = 0
    failures: int = 0
    last_error: str = ""
    checked_at: float = 0.0
    accounts: set[str] = field(default_factory=set)

    def public_dict(self) -> dict[str, Any]:
        return {
            "proxy": redact(self.url),
            "healthy": self.healthy,
            "requests": self.requests,
            "failures": self.failures,
            "last_error": self.last_error,
            "checked_at": self.checked_at or None,
            "accounts": sorted(self.accounts),
        }


class ProxyPool:
    """The ``upstream_proxies`` pool, the sticky account → proxy choice, and per-proxy counters.

    Counters are kept for every proxy a call went through (own, pool, global or from the environment).
    """

    def __init__(self, proxies: Iterable[str] = (), fallback: str = "") -> None:
        self.fallback = fallback
        self.states: dict[str, ProxyState] = {}
        self._pool: list[str] = []
        self._home: dict[str, str] = {}  # account id → its sticky pool proxy
        self.configure(proxies, fallback)

    def configure(self, proxies: Iterable[str], fallback: str) -> None:
        """Take the (maybe changed) settings; accounts of proxies that left the pool are spread again."""
        pool = list(dict.fromkeys(proxies))
        self.fallback = fallback
        if pool == self._pool:
            return
        self._pool = pool
        for url in pool:
            self.states.setdefault(url, ProxyState(url))
        self._home = {a: p for a, p in self._home.items() if p in pool}
        for url, state in self.states.items():
            state.accounts = {a for a, p in self._home.items() if p == url}

    @property
    def pool(self) -> list[str]:
        return list(self._pool)

    def state(self, url: str) -> ProxyState:
        state = self.states.get(url)
        if state is None:
            state = self.states[url] = ProxyState(url)
        return state

    def for_account(self, account_id: str, own: str = "") -> str:
        """The proxy of an account's calls (``""``: none configured; the environment decides)."""
        if own:
            return own
        if not self._pool:
            return self.fallback
        home = self._home.get(account_id)
        if home is None:
            home = self._least_loaded(self._healthy() or self._pool)
            self._home[account_id] = home
            self.states[home].accounts.add(account_id)
        if self.states[home].healthy:
            return home
        healthy = self._healthy()
        return self._least_loaded(healthy) if healthy else home  # all down: the error names it

    def default(self) -> str:
        """The proxy of calls made for no account yet (adding one): a healthy pool proxy or the global one."""
        if self._pool:
            return self._least_loaded(self._healthy() or self._pool)
        return self.fallback

    def forget(self, account_id: str) -> None:
        home = self._home.pop(account_id, None)
        if home is not None:
            self.states[home].accounts.discard(account_id)

    def _healthy(self) -> list[str]:
        return [url for url in self._pool if self.states[url].healthy]

    def _least_loaded(self, candidates: list[str]) -> str:
        return min(candidates, key=lambda url: len(self.states[url].accounts))

    # -- counters and health ----------------------------------------------------------------------

    def note_request(self, url: str) -> None:
        """A call went through ``url``. (A pool proxy is healthy again only after a health check.)"""
        state = self.state(url)
        state.requests += 1
        if url not in self._pool:
            state.healthy = True

    def note_failure(self, url: str, error: str) -> None:
        """A call through ``url`` failed because of the proxy: counted and marked failing (a pool proxy
        is skipped until a health check passes; an account's own one shows failing until a call passes)."""
        state = self.state(url)
        state.requests += 1
        state.failures += 1
        state.last_error = error
        state.healthy = False

    def note_health(self, url: str, health: ProxyHealth) -> None:
        state = self.state(url)
        state.healthy = health.ok
        state.checked_at = time.time()
        if not health.ok:
            state.last_error = health.error

    async def check_all(self, target: str, *, timeout: float = 10.0) -> list[ProxyHealth]:
        """Check every pool proxy at once and record the results."""
        pool = self.pool
        results = await asyncio.gather(*(check_proxy(url, target, timeout=timeout) for url in pool))
        for url, health in zip(pool, results, strict=True):
            self.note_health(url, health)
        return list(results)
