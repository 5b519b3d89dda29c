"""Dashboard sessions: random ids kept on the server, bound to the admin password they were opened with.

A session ends when it expires, on logout, and when the admin password changes (each session remembers a
keyed fingerprint of the password, never the password). The cookie carries only the random id, so any
malformed or forged cookie is simply an unknown session. The table is bounded: the oldest go first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

SESSION_SECONDS = 7 * 86400
MAX_SESSIONS = 256
_MAX_ID_LENGTH = 128


class Sessions:
    def __init__(
        self,
        *,
        lifetime: float = SESSION_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def _fingerprint(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def open(self, password: str) -> str:
        """A new session for whoever just proved ``password``; returns its id (the cookie value)."""
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = (self.clock() + self.lifetime, self._fingerprint(password))
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session_id

    def valid(self, session_id: str, password: str) -> bool:
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return False
        entry = self._sessions.get(session_id)
        if entry is None:
            return False
        expires, fingerprint = entry
        if expires <= self.clock() or not hmac.compare_digest(fingerprint, self._fingerprint(password)):
            del self._sessions[session_id]
            return False
        return True

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
