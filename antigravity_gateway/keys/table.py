"""The user keys of this process, in memory, looked up by the hash of the secret a client sends.

Loaded when the app starts and again whenever the store reports the ``keys`` area (another process, the
CLI or the admin API changed a key): every process applies a change within a second. A lookup is one
SHA-256 and one dictionary lookup; nothing about other keys shows in its timing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from antigravity_gateway.keys.record import ApiKey
from antigravity_gateway.keys.secret import hash_secret
from antigravity_gateway.store.base import Store

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True, frozen=True)
class Entry:
    """A key with its networks parsed once (``()``: any address)."""

    key: ApiKey
    networks: tuple[IPNetwork, ...]

    def address_allowed(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


class KeyTable:
    def __init__(self) -> None:
        self._by_hash: dict[str, Entry] = {}
        #: Whether a user key exists (a revoked one too: revoking a key must not open the gateway): then
        #: the client APIs require a key in auth mode ``auto``, also on a loopback address.
        self.active = False

    def replace(self, keys: list[ApiKey]) -> None:
        """Swap in a new set of keys (one assignment: a request sees the old table or the new one)."""
        table = {}
        for key in keys:
            networks = tuple(ipaddress.ip_network(n, strict=False) for n in key.ips)
            table[key.secret_hash] = Entry(key, networks)
        self._by_hash = table
        self.active = bool(keys)

    async def load(self, store: Store) -> None:
        self.replace(await store.list_keys())

    def lookup(self, secret: str) -> Entry | None:
        if not secret or not self._by_hash:
            return None
        return self._by_hash.get(hash_secret(secret))

    def __len__(self) -> int:
        return len(self._by_hash)
