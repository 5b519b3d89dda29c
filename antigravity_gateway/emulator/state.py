"""The emulated Google's state: OAuth clients, accounts, tokens, quota, operations, faults, requests.

:class:`Emulator` is thread-safe: tests mutate it from their own thread while the aiohttp app
runs in another. Every mutation happens under ``Emulator.lock`` (a ``threading.Lock``); the
handler modules (:mod:`.oauth`, :mod:`.v1internal`, :mod:`.control`) use the ``*_locked`` style
helpers below, which keep critical sections short and never await while holding the lock.

Secrets (refresh and access tokens) are never logged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final

import orjson

from antigravity_gateway.accounts.profiles import BUILTIN_PROFILES
from antigravity_gateway.emulator.catalog import DEFAULT_DEPRECATED_MODELS, DEFAULT_MODELS
from antigravity_gateway.emulator.faults import Fault
from antigravity_gateway.emulator.signatures import ThoughtSigner

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["Emulator", "EmulatorAccount", "Operation", "RecordedRequest"]

logger = logging.getLogger(__name__)

_MAX_SESSIONS: Final = 50_000


@dataclass
class EmulatorAccount:
    """One Google account known to the emulator.

    The object passed to :meth:`Emulator.add_account` is the live record: the emulator updates
    ``project``, ``onboarded``, ``tier`` (onboarding) and ``refresh_token`` (rotation) in place.
    """

    email: str
    refresh_token: str
    client_id: str
    onboarded: bool = True
    tier: str = "free-tier"
    project: str | None = None
    models: dict[str, dict[str, Any]] | None = None
    access_token_ttl: int = 3599
    rotate_refresh_token: bool = False
    validation_required: bool = False
    quota_requests: dict[str, int] | None = None
    quota_reset_seconds: float = 3600.0
    name: str | None = None

    @property
    def catalog(self) -> dict[str, dict[str, Any]]:
        """The models this account may use (``DEFAULT_MODELS`` unless ``models`` is set)."""
        return self.models if self.models is not None else DEFAULT_MODELS

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        local = self.email.split("@", 1)[0]
        return " ".join(w.capitalize() for w in local.replace(".", " ").replace("_", " ").split()) or local

    @property
    def user_id(self) -> str:
        """A stable 21-digit numeric id like Google's ``sub``."""
        digest = hashlib.sha256(self.email.encode()).digest()
        return "1" + str(int.from_bytes(digest[:10], "big")).rjust(20, "0")[:20]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorAccount:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown EmulatorAccount fields: {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the emulator answered (or dropped: ``status`` 0)."""

    endpoint: str
    method: str
    http_method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    account_email: str | None
    status: int
    fault: str | None = None
    timestamp: float = 0.0
    peer_port: int = 0  # the TCP port the request came from (which connection: through a proxy?)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "method": self.method,
            "http_method": self.http_method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "account_email": self.account_email,
            "status": self.status,
            "fault": self.fault,
            "timestamp": self.timestamp,
            "peer_port": self.peer_port,
        }


@dataclass(slots=True)
class Operation:
    """A long-running ``onboardUser`` operation."""

    name: str
    email: str
    tier: str
    project: str
    polls_left: int
    done: bool = False


@dataclass(slots=True)
class _AccessToken:
    email: str
    expires_at: float


@dataclass(slots=True)
class _RefreshToken:
    email: str
    client_id: str


@dataclass(slots=True)
class _Quota:
    used: int = 0
    exhausted_until: float | None = None


@dataclass(slots=True)
class AuthCode:
    """An authorization code issued by the emulated consent screen."""

    email: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str
    expires_at: float


@dataclass(slots=True)
class _Settings:
    chunk_delay: float = 0.0
    onboard_polls: int = 1
    min_client_version: tuple[int, ...] | None = None
    too_old_status: int = 400
    clock_skew: float = 0.0
    deprecated_models: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DEPRECATED_MODELS.items()}
    )


def new_project_id() -> str:
    return f"emu-project-{secrets.token_hex(4)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Emulator:
    """Pure state plus an aiohttp app factory for the emulated Google OAuth + v1internal APIs.

    Attributes tests may set at any time: ``chunk_delay`` (seconds between streamed chunks),
    ``onboard_polls`` (operation polls answered ``done: false`` before onboarding completes),
    ``deprecated_models`` (the ``deprecatedModelIds`` map), ``min_client_version`` (e.g. ``(2, 10, 0)``:
    v1internal refuses an Antigravity ``User-Agent`` of an older version with "This version of
    Antigravity is no longer supported") and ``too_old_status`` (how: that status with an error body,
    or ``200`` with the message as the answer, the way Google sometimes sends it) and ``clock_skew``
    (seconds added to the ``Date`` header of every answer, as from a server whose clock is off; the
    gateway's clock check compares it with local time).
    """

    def __init__(self, *, max_recorded_requests: int | None = 100_000) -> None:
        self.lock = threading.Lock()
        self.signer = ThoughtSigner()
        self._max_recorded = max_recorded_requests
        self._init_state()

    def _init_state(self) -> None:
        settings = _Settings()
        self.chunk_delay: float = settings.chunk_delay
        self.onboard_polls: int = settings.onboard_polls
        self.deprecated_models: dict[str, dict[str, str]] = settings.deprecated_models
        self.min_client_version: tuple[int, ...] | None = settings.min_client_version
        self.too_old_status: int = settings.too_old_status
        self.clock_skew: float = settings.clock_skew
        # Google knows the installed-app clients that applications publish (the built-in profiles).
        self.clients: dict[str, str] = {p.client_id: p.client.secret for p in BUILTIN_PROFILES}
        self.accounts_by_email: dict[str, EmulatorAccount] = {}
        self.operations: dict[str, Operation] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._quota: dict[tuple[str, str], _Quota] = {}
        self._sessions: dict[tuple[str, str], bytes] = {}
        self._faults: list[Fault] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=self._max_recorded)

    # -- public API ---------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register an OAuth client (id + secret) known to the emulated Google."""
        with self.lock:
            self.clients[client_id] = client_secret

    def add_account(self, account: EmulatorAccount) -> EmulatorAccount:
        """Add (or replace, by email) an account; returns the live record."""
        with self.lock:
            old = self.accounts_by_email.get(account.email)
            if old is not None:
                self._forget_refresh_tokens(old.email)
            if account.onboarded and account.project is None:
                account.project = new_project_id()
            self.accounts_by_email[account.email] = account
            self._refresh_tokens[account.refresh_token] = _RefreshToken(account.email, account.client_id)
        logger.debug("emulator: account %s added", account.email)
        return account

    def get_account(self, email: str) -> EmulatorAccount:
        """The live record for ``email`` (``KeyError`` if unknown)."""
        with self.lock:
            return self.accounts_by_email[email]

    @property
    def accounts(self) -> list[EmulatorAccount]:
        with self.lock:
            return list(self.accounts_by_email.values())

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token: later refreshes answer ``invalid_grant``."""
        with self.lock:
            self._refresh_tokens.pop(refresh_token, None)

    def expire_access_tokens(self, email: str | None = None) -> None:
        """Invalidate all issued access tokens (or only ``email``'s): v1internal then answers 401."""
        with self.lock:
            if email is None:
                self._access_tokens.clear()
            else:
                for token in [t for t, a in self._access_tokens.items() if a.email == email]:
                    del self._access_tokens[token]

    def issue_access_token(self, email: str, ttl: float | None = None) -> str:
        """Mint a valid access token for ``email`` without an OAuth round trip (test helper)."""
        with self.lock:
            account = self.accounts_by_email[email]
            return self._issue_access_token_locked(account, ttl)

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Faults that can still fire (exhausted ones are dropped)."""
        with self.lock:
            return list(self._faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self.lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget everything: clients (but the published ones), accounts, tokens, quota, operations,
        faults, requests, settings."""
        with self.lock:
            self._init_state()

    def usage(self, email: str, model: str) -> int:
        """How many quota-limited generate calls ``email`` made on ``model`` in the current window."""
        with self.lock:
            quota = self._quota.get((email, model))
            return quota.used if quota else 0

    def make_app(self) -> web.Application:
        """A fresh aiohttp application serving this emulator."""
        from antigravity_gateway.emulator.server import build_app

        return build_app(self)

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run inside the current event loop; yields the base URL (``http://host:port``)."""
        from antigravity_gateway.emulator.server import serve_app

        async with serve_app(self, host, port) as url:
            yield url

    # -- internal helpers used by the handler modules -----------------------------------------

    def record(self, rec: RecordedRequest) -> None:
        with self.lock:
            self._requests.append(rec)

    def take_fault(
        self,
        *,
        before_auth: bool,
        endpoint: str,
        method: str,
        model: str | None,
        account: str | None,
        streaming: bool = False,
    ) -> Fault | None:
        """The first matching fault of the given phase, with its ``times`` decremented."""
        if not self._faults:
            return None
        with self.lock:
            for fault in self._faults:
                if fault.before_auth != before_auth:
                    continue
                if not fault.matches(endpoint, method, model, account, streaming):
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def account_for_token(self, token: str | None) -> EmulatorAccount | None:
        """The account owning a valid, unexpired access token."""
        if not token:
            return None
        with self.lock:
            entry = self._access_tokens.get(token)
            if entry is None:
                return None
            if entry.expires_at <= time.time():
                del self._access_tokens[token]
                return None
            return self.accounts_by_email.get(entry.email)

    def refresh_token_owner(self, refresh_token: str) -> tuple[str, str] | None:
        """``(email, client_id)`` for a live refresh token."""
        with self.lock:
            entry = self._refresh_tokens.get(refresh_token)
            return (entry.email, entry.client_id) if entry else None

    def refresh_token_owner_locked(self, refresh_token: str) -> tuple[str, str] | None:
        """Like :meth:`refresh_token_owner`; caller holds ``lock``."""
        entry = self._refresh_tokens.get(refresh_token)
        return (entry.email, entry.client_id) if entry else None

    def grant_locked(self, account: EmulatorAccount, rotate: bool) -> tuple[str, str | None]:
        """Issue an access token (and a rotated refresh token); caller holds ``lock``."""
        access = self._issue_access_token_locked(account, None)
        new_refresh: str | None = None
        if rotate:
            self._refresh_tokens.pop(account.refresh_token, None)
            new_refresh = "1//" + secrets.token_urlsafe(48)
            account.refresh_token = new_refresh
            self._refresh_tokens[new_refresh] = _RefreshToken(account.email, account.client_id)
        return access, new_refresh

    def refresh_token_for_client_locked(self, account: EmulatorAccount, client_id: str) -> str:
        """The refresh token a login through ``client_id`` yields; caller holds ``lock``."""
        if client_id == account.client_id:
            self._refresh_tokens.setdefault(account.refresh_token, _RefreshToken(account.email, client_id))
            return account.refresh_token
        for token, entry in self._refresh_tokens.items():
            if entry.email == account.email and entry.client_id == client_id:
                return token
        token = "1//" + secrets.token_urlsafe(48)
        self._refresh_tokens[token] = _RefreshToken(account.email, client_id)
        return token

    def _issue_access_token_locked(self, account: EmulatorAccount, ttl: float | None) -> str:
        token = "ya29." + secrets.token_urlsafe(60)
        lifetime = account.access_token_ttl if ttl is None else ttl
        self._access_tokens[token] = _AccessToken(account.email, time.time() + lifetime)
        return token

    def id_token(self, account: EmulatorAccount, client_id: str) -> str:
        """An unsigned JWT-shaped id_token carrying the email (opaque to callers)."""
        now = int(time.time())
        header = _b64url(orjson.dumps({"alg": "RS256", "kid": "emulator", "typ": "JWT"}))
        payload = _b64url(
            orjson.dumps(
                {
                    "iss": "https://accounts.google.com",
                    "azp": client_id,
                    "aud": client_id,
                    "sub": account.user_id,
                    "email": account.email,
                    "email_verified": True,
                    "iat": now,
                    "exp": now + account.access_token_ttl,
                }
            )
        )
        return f"{header}.{payload}.{_b64url(secrets.token_bytes(32))}"

    def _forget_refresh_tokens(self, email: str) -> None:
        for token in [t for t, e in self._refresh_tokens.items() if e.email == email]:
            del self._refresh_tokens[token]

    # quota ----------------------------------------------------------------------------------

    def consume_quota(self, account: EmulatorAccount, model: str) -> float | None:
        """Count one generate call; returns the reset delay in seconds if the quota is exhausted."""
        limits = account.quota_requests
        if not limits or model not in limits:
            return None
        limit = limits[model]
        now = time.time()
        with self.lock:
            quota = self._quota.get((account.email, model))
            if quota is None:
                quota = self._quota[(account.email, model)] = _Quota()
            if quota.exhausted_until is not None and now >= quota.exhausted_until:
                quota.used = 0
                quota.exhausted_until = None
            if quota.used >= limit:
                if quota.exhausted_until is None:
                    quota.exhausted_until = now + account.quota_reset_seconds
                return quota.exhausted_until - now
            quota.used += 1
            if quota.used >= limit:
                quota.exhausted_until = now + account.quota_reset_seconds
            return None

    def quota_info(self, account: EmulatorAccount, model: str) -> tuple[float, float]:
        """``(remainingFraction, reset timestamp)`` for ``model``."""
        now = time.time()
        limits = account.quota_requests
        if not limits or model not in limits:
            return 1.0, now + account.quota_reset_seconds
        limit = limits[model]
        with self.lock:
            quota = self._quota.get((account.email, model))
            if quota is None:
                return (0.0 if limit <= 0 else 1.0), now + account.quota_reset_seconds
            if quota.exhausted_until is not None and now >= quota.exhausted_until:
                quota.used = 0
                quota.exhausted_until = None
            used, until = quota.used, quota.exhausted_until
        fraction = 0.0 if limit <= 0 else max(0.0, 1.0 - used / limit)
        return fraction, until if until is not None else now + account.quota_reset_seconds

    # prompt caching -------------------------------------------------------------------------

    def session_prefix_hit(self, email: str, session_id: str, first_content: Any) -> bool:
        """Remember ``first_content`` for the session; True if it matches what was seen before."""
        fingerprint = orjson.dumps(first_content, option=orjson.OPT_SORT_KEYS)
        key = (email, session_id)
        with self.lock:
            previous = self._sessions.get(key)
            if previous is None and len(self._sessions) >= _MAX_SESSIONS:
                self._sessions.clear()
            self._sessions[key] = fingerprint
        return previous == fingerprint
