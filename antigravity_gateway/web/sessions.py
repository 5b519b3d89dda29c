"""Dashboard sessions: random ids kept in the store, bound to the admin password they were opened with.

Sessions live in the store (:meth:`Store.put_record`), so every worker and every host sharing the pool
knows them: a login on one is a login on all, and a logout ends the session everywhere. The store keeps
only a hash of each id, so the store's content is no cookie. A session ends when it expires, on logout,
and when the admin password changes: each remembers a salted HMAC of the password it was opened with
(never the password). The cookie carries only the random id, so a malformed or forged cookie is simply
an unknown session. At most :data:`MAX_SESSIONS` are kept: the oldest go first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from antigravity_gateway.store.base import Store

SESSION_SECONDS = 7 * 86400
MAX_SESSIONS = 256
_MAX_ID_LENGTH = 128
_KIND = "session"
_SALT_BYTES = 16


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _fingerprint(salt: bytes, password: str) -> bytes:
    return hmac.new(salt, password.encode(), hashlib.sha256).digest()


class Sessions:
    def __init__(self, *, lifetime: float = SESSION_SECONDS, max_sessions: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions

    async def open(self, store: Store, password: str) -> str:
        """A new session for whoever just proved ``password``; returns its id (the cookie value)."""
        session_id = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(_SALT_BYTES)
        await store.put_record(
            _KIND,
            _key(session_id),
            salt + _fingerprint(salt, password),
            ttl=self.lifetime,
            max_records=self.max_sessions,
        )
        return session_id

    async def valid(self, store: Store, session_id: str, password: str) -> bool:
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return False
        entry = await store.get_record(_KIND, _key(session_id))
        if entry is None:
            return False
        salt, fingerprint = entry[:_SALT_BYTES], entry[_SALT_BYTES:]
        if not hmac.compare_digest(fingerprint, _fingerprint(salt, password)):
            await store.delete_records(_KIND, _key(session_id))  # opened with an older password
            return False
        return True

    async def close(self, store: Store, session_id: str) -> None:
        if session_id and len(session_id) <= _MAX_ID_LENGTH:
            await store.delete_records(_KIND, _key(session_id))
