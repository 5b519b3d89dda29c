"""What the gateway keeps: accounts, cooldowns, conversation bindings, model catalogs, user keys with
their counters and usage, and the request log.

Everything durable goes through the :class:`Store` protocol so that a shared backend (Redis,
PostgreSQL) can replace SQLite without touching the scheduler. The scheduler keeps the hot state in
memory and writes through to the store.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from antigravity_gateway.keys.record import Admission, ApiKey, KeyUsage
from antigravity_gateway.upstream.proxies import redact

#: What :meth:`Store.changes` reports: the parts of the shared state another process (or this one) wrote.
#: ``bindings`` means new or renewed bindings (read them with ``list_bindings(since=...)``);
#: ``bindings_reset`` means some were removed (read them all again). ``keys``: a user key was added,
#: changed or removed (not its counters or usage, which change with every request).
StoreArea = Literal["accounts", "cooldowns", "bindings", "bindings_reset", "catalogs", "settings", "keys"]
#: The account fields that carry tokens: writing one of them bumps ``token_version``.
TOKEN_FIELDS = frozenset(
    {"refresh_token", "access_token", "access_token_expires_at", "access_token_lifetime"}
)

AccountStatus = Literal["enabled", "disabled", "invalid_grant", "validation_required", "forbidden"]


def new_account_id() -> str:
    return uuid.uuid4().hex[:12]


_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\<>\"']")


def https_url(url: str) -> str:
    """``url`` if it is a plain ``https://host/...`` link, else ``""``.

    For links that come from Google's answers and end up as a link the user clicks (an account's
    ``validation_url`` in the dashboard): ``javascript:``, ``data:``, ``http:`` and anything odd
    (whitespace, control characters, backslashes, quotes, credentials, no host) is dropped.
    """
    if not isinstance(url, str) or len(url) > 4096 or _UNSAFE_URL_CHARS.search(url):
        return ""
    try:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
            return ""
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return ""
    return url


@dataclass(slots=True)
class Account:
    """One Google account of the pool. ``refresh_token`` and ``access_token`` are secrets: never log them.

    ``proxy_url``: the account's own upstream proxy (``""``: the pool's or the global one). It may hold a
    password: show it only through :func:`~antigravity_gateway.upstream.proxies.redact`."""

    email: str
    refresh_token: str = field(repr=False)
    id: str = field(default_factory=new_account_id)
    access_token: str = field(default="", repr=False)
    access_token_expires_at: float = 0.0
    oauth_client_id: str = ""
    project_id: str = ""
    tier_id: str = ""
    tier_name: str = ""
    status: AccountStatus = "enabled"
    status_reason: str = ""
    status_until: float = 0.0
    validation_url: str = ""
    label: str = ""
    priority: int = 0
    created_at: float = field(default_factory=time.time)
    last_used_at: float = 0.0
    proxy_url: str = field(default="", repr=False)
    #: Seconds the current access token was issued for (``0``: unknown, an older row).
    access_token_lifetime: float = 0.0
    #: Bumped by the store on every write of the tokens: a write that expected an older version is
    #: refused (:meth:`Store.update_account`), and :meth:`AccountPool.sync` adopts only newer tokens.
    token_version: int = 0

    def __post_init__(self) -> None:
        self.validation_url = https_url(self.validation_url)  # also rows stored before the check

    @property
    def usable(self) -> bool:
        """Enabled, or set aside by Google only for a while that has passed (verification, 403)."""
        if self.status == "enabled":
            return True
        return self.status in ("validation_required", "forbidden") and 0 < self.status_until <= time.time()

    def public_dict(self) -> dict[str, Any]:
        """A view safe to print or serve: no tokens."""
        return {
            "id": self.id,
            "email": self.email,
            "status": self.status,
            "status_reason": self.status_reason,
            "status_until": self.status_until or None,
            "validation_url": https_url(self.validation_url) or None,
            "project_id": self.project_id,
            "tier_id": self.tier_id,
            "tier_name": self.tier_name,
            "oauth_client_id": self.oauth_client_id,
            "label": self.label,
            "priority": self.priority,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at or None,
            "access_token_expires_at": self.access_token_expires_at or None,
            "proxy_url": redact(self.proxy_url),
        }


@dataclass(slots=True, frozen=True)
class Cooldown:
    """An account may not serve ``model`` (``"*"`` = any model) until ``until`` (epoch seconds)."""

    account_id: str
    model: str
    until: float
    reason: str
    message: str = ""


@dataclass(slots=True, frozen=True)
class Catalog:
    """The answer of ``fetchAvailableModels`` for one account (models with their quota), the 5-hour and
    weekly buckets of ``retrieveUserQuotaSummary`` when Google gave them, and when they were fetched."""

    account_id: str
    data: dict[str, Any]
    fetched_at: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestRecord:
    """One client request, as the request log keeps it. Bodies only with debug capture; never secrets."""

    ts: float = field(default_factory=time.time)
    protocol: str = ""
    path: str = ""
    model: str = ""
    upstream_model: str = ""
    account_id: str = ""
    account_email: str = ""
    status: int = 0
    duration_ms: float = 0.0
    ttfb_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    attempts: int = 0
    stream: bool = False
    error: str = ""
    request_body: bytes | None = None
    response_body: bytes | None = None
    #: The user key's name (``""``: the operator's key, or no key).
    key_name: str = ""
    id: int | None = None

    def row(self) -> tuple[Any, ...]:
        """The values in the order of :data:`REQUEST_COLUMNS` (the request-log table), without ``id``."""
        return (
            self.ts, self.protocol, self.path, self.model, self.upstream_model, self.account_id,
            self.account_email, self.status, self.duration_ms, self.ttfb_ms, self.input_tokens,
            self.output_tokens, self.cached_tokens, self.attempts, self.stream, self.error,
            self.request_body, self.response_body, self.key_name,
        )  # fmt: skip

    def public_dict(self, *, bodies: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "ts": self.ts,
            "protocol": self.protocol,
            "path": self.path,
            "model": self.model,
            "upstream_model": self.upstream_model,
            "account_id": self.account_id,
            "account_email": self.account_email,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 2),
            "ttfb_ms": round(self.ttfb_ms, 2) if self.ttfb_ms is not None else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "attempts": self.attempts,
            "stream": self.stream,
            "error": self.error,
            "key_name": self.key_name,
        }
        if bodies:
            data["request_body"] = self.request_body.decode("utf-8", "replace") if self.request_body else None
            data["response_body"] = (
                self.response_body.decode("utf-8", "replace") if self.response_body else None
            )
        return data


#: The request-log columns, in :meth:`RequestRecord.row` order.
REQUEST_COLUMNS = (
    "ts", "protocol", "path", "model", "upstream_model", "account_id", "account_email", "status",
    "duration_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens", "attempts", "stream",
    "error", "request_body", "response_body", "key_name",
)  # fmt: skip


@dataclass(slots=True, frozen=True)
class RequestQuery:
    """Filters for reading the request log (all optional)."""

    limit: int = 100
    before_id: int | None = None
    after_id: int | None = None
    model: str = ""
    account: str = ""
    protocol: str = ""
    key: str = ""
    errors_only: bool = False
    since: float | None = None


class Store(Protocol):
    """Durable state, shared by every process that opens it. Implementations are async context managers
    opened in the app's lifespan: :class:`~antigravity_gateway.store.sqlite.SQLiteStore` (one AGW_HOME,
    any number of processes) and :class:`~antigravity_gateway.store.redis.RedisStore` (several hosts).

    Writes are field-level or whole-row inserts, never a whole-row overwrite from a process's memory: a
    process that read an account a while ago cannot undo what another process wrote since (a removal, a
    label, a rotated refresh token).
    """

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def health(self) -> dict[str, Any]:
        """``ok`` (whether the store answered its last call) and ``backend``, with details for the
        operator (the Redis URL without its password, the last error): for the admin API only, as they
        may name internal addresses (``/healthz`` shows :func:`public_health`)."""
        ...

    async def changes(self) -> set[StoreArea]:
        """The areas written since the previous call, by any process (this one included; the first call
        reports every area). Cheap: it is polled about once a second."""
        ...

    # -- accounts ---------------------------------------------------------------------------------

    async def list_accounts(self) -> list[Account]:
        """Highest priority first, then the oldest."""
        ...

    async def get_account(self, account_id: str) -> Account | None: ...

    async def save_account(self, account: Account) -> None:
        """Insert the account, or replace every field of the stored one with the same id (adding or
        importing an account, a login: the caller has the whole account). Bumps ``token_version``.
        Raises ``ValueError`` if another account has the same email."""

    async def update_account(
        self, account_id: str, changes: Mapping[str, Any], *, expect_token_version: int | None = None
    ) -> int | None:
        """Write only ``changes`` (field name → value) to the stored account; a write of a field in
        :data:`TOKEN_FIELDS` bumps its ``token_version``. Returns the account's ``token_version`` after the
        write, or ``None`` when nothing was written: the account is gone (a removed account never comes
        back), or ``expect_token_version`` is given and the stored version differs (another process wrote
        other tokens since)."""

    async def delete_account(self, account_id: str) -> None:
        """Remove the account with its cooldowns, bindings and catalog."""

    # -- leases (single-flight work across processes) ---------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease ``name`` for ``ttl`` seconds if it is free, expired or already ``holder``'s.
        A holder that dies loses it after ``ttl``."""

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back (only if ``holder`` still holds it)."""

    # -- requests in flight, per process ----------------------------------------------------------

    async def publish_in_flight(self, worker: str, counts: Mapping[str, int], ttl: float) -> dict[str, int]:
        """Record ``worker``'s requests in flight per account id, valid for ``ttl`` seconds (a dead
        worker's counts expire with it), and return the sums of every *other* live worker's counts."""

    # -- cooldowns --------------------------------------------------------------------------------

    async def list_cooldowns(self) -> list[Cooldown]:
        """The cooldowns that have not expired."""

    async def save_cooldown(self, cooldown: Cooldown) -> None:
        """Insert or replace the cooldown of (account, model)."""

    async def clear_cooldowns(self, account_id: str | None = None) -> None: ...

    # -- conversation bindings --------------------------------------------------------------------

    async def list_bindings(self, since: float = 0.0) -> dict[str, str]:
        """Conversation key → account id for bindings written at or after ``since`` (epoch seconds), the
        least recently bound first."""
        ...

    async def get_binding(self, session_key: str) -> str | None:
        """The account id the conversation is bound to, if any."""

    async def prune_bindings(self, *, older_than: float, max_rows: int) -> int:
        """Delete bindings last written before ``older_than`` and all but the newest ``max_rows``."""
        ...

    async def save_binding(self, session_key: str, account_id: str) -> None: ...

    async def clear_bindings(self, account_id: str | None = None) -> None: ...

    # -- model catalogs and quotas ----------------------------------------------------------------

    async def list_catalogs(self) -> list[Catalog]: ...

    async def save_catalog(self, catalog: Catalog) -> None: ...

    # -- short-lived records: dashboard sessions, logins in progress -------------------------------

    async def put_record(self, kind: str, key: str, value: bytes, *, ttl: float, max_records: int) -> None:
        """Keep ``value`` under (``kind``, ``key``) for ``ttl`` seconds; past ``max_records`` of that kind,
        the oldest go first."""

    async def get_record(self, kind: str, key: str) -> bytes | None:
        """The value, or ``None`` when there is none or it expired."""

    async def take_record(self, kind: str, key: str) -> bytes | None:
        """The value, removed in the same step: two processes taking it get it once between them."""

    async def list_records(self, kind: str) -> dict[str, bytes]:
        """Every live record of ``kind``, the oldest first."""
        ...

    async def delete_records(self, kind: str, key: str | None = None) -> None:
        """Remove one record, or every record of ``kind``."""

    # -- live settings shared between hosts -------------------------------------------------------

    async def shared_settings(self) -> dict[str, Any]:
        """The live settings every process of the pool applies over its own (``{}``: none; a single
        AGW_HOME shares its config.toml instead)."""
        ...

    async def save_shared_settings(self, values: Mapping[str, Any]) -> None:
        """Replace the shared live settings (reported as the ``settings`` area)."""

    # -- user keys (keys/) -------------------------------------------------------------------------

    async def list_keys(self) -> list[ApiKey]:
        """Every user key, revoked ones included, the oldest first."""
        ...

    async def get_key(self, name: str) -> ApiKey | None: ...

    async def create_key(self, key: ApiKey) -> None:
        """Insert a new key (reported as the ``keys`` area). Raises ``ValueError`` when a key of that
        name exists (a revoked one too: remove it first) or, never in practice, one with that hash."""

    async def update_key(self, name: str, changes: Mapping[str, Any]) -> ApiKey | None:
        """Write only ``changes`` (fields of :data:`~antigravity_gateway.keys.record.EDITABLE_FIELDS`)
        and return the key as stored now; ``None`` when there is no such key. Reported as ``keys``."""

    async def delete_key(self, name: str) -> bool:
        """Remove the key with its counters and daily totals (the request log keeps its name). Whether
        there was one."""

    # -- user key counters: atomic, shared by every process and host ------------------------------

    async def admit_key_request(
        self,
        name: str,
        request_id: str,
        *,
        rpm: int,
        concurrency: int,
        tokens_per_day: int,
        ttl: float,
        now: float | None = None,
    ) -> Admission:
        """Decide, atomically across processes, whether the key may start one more request, and record
        it when it may. Limits of ``0`` are not checked. In order:

        - ``rpm``: requests admitted in the sliding window of the last 60 s (``now - 60 < t``);
        - ``concurrency``: requests in flight, entries that were not released and whose expiry (``ttl``
          seconds after admission, pushed on by :meth:`extend_key_requests`) has not passed: a process
          that dies holds its slots for ``ttl`` at most;
        - ``tokens_per_day``: input plus output tokens of the UTC day of ``now`` (from
          :meth:`release_key_request`); refused once the total reached the limit, so the request that
          crosses it is served in full.

        A refusal records nothing but the day's ``refused`` count. ``now``: epoch seconds, ``None`` for
        the store's own clock (one clock for every host sharing it)."""
        ...

    async def extend_key_requests(self, requests: Sequence[tuple[str, str]], ttl: float) -> None:
        """Push the expiry of these ``(name, request_id)`` in-flight entries to ``ttl`` seconds from now
        (the requests of a process still running: long streams). Released entries stay released."""

    async def release_key_request(self, name: str, request_id: str, usage: KeyUsage | None = None) -> None:
        """End the request's in-flight entry (it still counts in the rpm window) and add ``usage`` (the
        request's counts, for ``usage.day``) to the key's daily totals and its ``last_used_at``, in one
        atomic write. Releasing twice, or a request that was never admitted, changes no slot."""

    async def key_usage(self, name: str | None = None, *, since_day: str = "") -> list[KeyUsage]:
        """The daily totals (of one key, or every key) from the UTC day ``since_day`` (``YYYY-MM-DD``)
        on, by day then name."""
        ...

    async def keys_in_flight(self) -> dict[str, int]:
        """Requests in flight per key name, every process's (keys with none are left out)."""
        ...

    # -- request log (per store: per host with Redis) ---------------------------------------------

    async def append_requests(self, records: list[RequestRecord]) -> None:
        """Write a batch of request-log records (one transaction)."""

    async def query_requests(self, query: RequestQuery) -> list[RequestRecord]:
        """Newest first."""

    async def get_request(self, request_id: int) -> RequestRecord | None: ...

    async def request_stats(self, *, since: float, bucket: str, group: str) -> list[dict[str, Any]]:
        """Requests, errors, tokens and the last request's time (``last_ts``) per time bucket
        (``hour``/``day``) and group (``model``/``account``/``key``; anything else: one group, ``""``)."""

    async def prune_requests(self, *, older_than: float, max_rows: int) -> int:
        """Drop records older than ``older_than`` and beyond the newest ``max_rows``; return how many."""


def public_health(health: dict[str, Any]) -> dict[str, Any]:
    """What ``/healthz``, open to anyone who can reach the gateway, says of the store: whether it answers,
    its backend and for how long it has been down; no addresses or error texts."""
    return {k: v for k, v in health.items() if k in ("ok", "backend", "down_for")}
