"""Who is asking: the client's address and scheme, read through ``trusted_proxies`` only.

``X-Forwarded-For`` and ``X-Forwarded-Proto``/``-Host`` are believed only when the peer itself is a
configured trusted proxy; from anyone else they are ignored, since any client can send them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import Scope

from antigravity_gateway.settings import Settings


def in_networks(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def from_trusted_proxy(scope: Scope, settings: Settings) -> bool:
    client = scope.get("client")
    return bool(settings.trusted_proxies and client and in_networks(client[0], settings.trusted_proxies))


def client_ip(scope: Scope, settings: Settings) -> str:
    """The peer address, or the last address in ``X-Forwarded-For`` that is not a trusted proxy when
    the peer itself is one (``trusted_proxies``)."""
    client = scope.get("client")
    peer = client[0] if client else ""
    if not from_trusted_proxy(scope, settings):
        return peer
    forwarded = Headers(scope=scope).get("x-forwarded-for", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not in_networks(hop, settings.trusted_proxies):
            return hop
    return peer


def request_scheme(scope: Scope, settings: Settings) -> str:
    """``https`` when the request came over TLS, here or (``X-Forwarded-Proto``) at a trusted proxy."""
    if scope.get("scheme") == "https":
        return "https"
    if from_trusted_proxy(scope, settings):
        proto = Headers(scope=scope).get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            return proto
    return str(scope.get("scheme") or "http")
