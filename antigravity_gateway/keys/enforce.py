"""A request made with a user key: its model rule, its admission against the shared counters, its release.

``web/auth.py`` identifies the key and sets :data:`current_grant` for the request. The pipeline, once it
knows the model the client asked for and the upstream model that maps to, calls :meth:`Grant.admit`:
the model rule (403), then one atomic :meth:`~antigravity_gateway.store.base.Store.admit_key_request`
(429 for ``rpm``, ``concurrency`` or ``tokens_per_day``), before anything goes to Google. A request that
calls the pipeline more than once (OpenAI's ``n``, Anthropic's retry without thinking) is admitted once.
When the request has ended (a stream: after its last byte) ``web/auth.py`` calls :meth:`Grant.release`:
one atomic write ends the in-flight entry and adds the request's tokens (from Google's usage metadata, as
the request log has them) to the key's daily totals.

In-flight entries expire :data:`IN_FLIGHT_TTL` seconds after their admission unless extended: the
:class:`Enforcer` of each process extends its own every :data:`EXTEND_EVERY` seconds (long streams), so a
process that dies frees its slots within a minute.

Requests with the operator's key (``AGW_API_KEY``) or without a key have no grant and pay nothing here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from antigravity_gateway.core.models_map import strip_model_prefix
from antigravity_gateway.errors import Forbidden, TooManyRequests
from antigravity_gateway.keys.record import Admission, ApiKey, KeyUsage, next_utc_midnight, utc_day
from antigravity_gateway.keys.table import Entry
from antigravity_gateway.store.base import RequestRecord, Store

logger = logging.getLogger(__name__)

#: Seconds an in-flight entry lives without being extended (a dead process's slots free up after this).
IN_FLIGHT_TTL = 60.0
#: How often a process extends the in-flight entries of its running requests.
EXTEND_EVERY = 20.0

current_grant: ContextVar[Grant | None] = ContextVar("agw_key_grant", default=None)


def reset_duration(seconds: float) -> str:
    """OpenAI's spelling of a reset time: ``59s``, ``1m0s``, ``6h12m3s`` (whole seconds, rounded up)."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rate_headers(key: ApiKey, admission: Admission, now: float) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers OpenAI-style clients read, for the key's ``rpm`` (``-requests``) and
    ``tokens_per_day`` (``-tokens``) limits."""
    headers: dict[str, str] = {}
    if key.rpm:
        remaining = max(0, key.rpm - admission.window_requests)
        reset = admission.retry_after if admission.limit == "rpm" else admission.window_reset
        headers["x-ratelimit-limit-requests"] = str(key.rpm)
        headers["x-ratelimit-remaining-requests"] = str(remaining)
        headers["x-ratelimit-reset-requests"] = reset_duration(reset)
    if key.tokens_per_day:
        headers["x-ratelimit-limit-tokens"] = str(key.tokens_per_day)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, key.tokens_per_day - admission.tokens_today))
        headers["x-ratelimit-reset-tokens"] = reset_duration(next_utc_midnight(now) - now)
    return headers


def _refusal(key: ApiKey, admission: Admission, now: float) -> TooManyRequests:
    wait = max(1, math.ceil(admission.retry_after))
    name = key.name
    if admission.limit == "rpm":
        message = (
            f"the API key {name!r} is over its limit of {key.rpm} requests per minute: retry in {wait} s"
        )
    elif admission.limit == "concurrency":
        message = (
            f"the API key {name!r} already has {admission.in_flight} requests in progress, its limit: "
            "retry when one has finished"
        )
    else:
        message = (
            f"the API key {name!r} has used its {key.tokens_per_day} tokens for today (UTC day "
            f"{utc_day(now)}): it can be used again at 00:00 UTC, in {reset_duration(admission.retry_after)}"
        )
    return TooManyRequests(message, retry_after=wait, headers=rate_headers(key, admission, now))


def model_refusal(key: ApiKey, requested: str, upstream: str) -> Forbidden:
    requested = strip_model_prefix(requested)
    served = f" (served as {upstream})" if upstream and upstream != requested else ""
    return Forbidden(
        f"the API key {key.name!r} may not use the model {requested!r}{served}: its models are "
        f"{', '.join(key.models)}",
        param="model",
    )


class Grant:
    """One request's key: created by the auth middleware, admitted by the pipeline, released at the end."""

    __slots__ = ("_attempted", "_enforcer", "_lock", "admission", "entry", "key", "request_id")

    def __init__(self, entry: Entry, enforcer: Enforcer) -> None:
        self.entry = entry
        self.key = entry.key
        self.request_id = secrets.token_hex(8)
        self.admission: Admission | None = None
        self._enforcer = enforcer
        self._lock: asyncio.Lock | None = None
        self._attempted = False

    def check_model(self, requested: str, upstream: str) -> None:
        if not self.key.allows(requested, upstream):
            raise model_refusal(self.key, requested, upstream)

    async def admit(self, requested: str, upstream: str) -> None:
        """The model rule, then (once per request) the atomic admission. Raises 403 or 429."""
        self.check_model(requested, upstream)
        if self.admission is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self.admission is None:
                    self._attempted = True
                    self.admission = await self._enforcer.admit(self)
        if not self.admission.admitted:
            raise _refusal(self.key, self.admission, time.time())

    @property
    def attempted(self) -> bool:
        """Whether an admission was asked for (then :meth:`release` must run, even if it was cut short)."""
        return self._attempted

    def forget(self) -> None:
        """The end of a request that never asked for an admission (a model list, a refused body)."""
        self._enforcer.forget(self)

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """The ``x-ratelimit-*`` headers of an admitted request's answer."""
        if self.admission is None or not self.admission.admitted:
            return []
        headers = rate_headers(self.key, self.admission, time.time())
        return [(k.encode(), v.encode()) for k, v in headers.items()]

    async def release(self, record: RequestRecord | None) -> None:
        """End the request's in-flight entry and record its usage (once the request has ended)."""
        self._enforcer.forget(self)
        if not self._attempted:
            return
        usage = None
        if self.admission is not None and self.admission.admitted:
            now = time.time()
            status = record.status if record is not None else 0
            usage = KeyUsage(
                self.key.name,
                utc_day(now),
                requests=1,
                input_tokens=record.input_tokens if record is not None else 0,
                output_tokens=record.output_tokens if record is not None else 0,
                errors=int(status >= 400 or status == 0),
                last_used_at=now,
            )
        try:
            await self._enforcer.release(self, usage)
        except Exception:
            logger.exception(
                "could not release a request of the API key %r (its slot expires in %g s)",
                self.key.name,
                IN_FLIGHT_TTL,
            )


class Enforcer:
    """This process's side of the shared counters: admits, releases, and extends its running requests.

    Created with the app (the auth middleware holds it); :meth:`open` gives it the store in the lifespan.
    """

    def __init__(self) -> None:
        self.store: Store | None = None
        self._running: dict[str, Grant] = {}

    def open(self, store: Store) -> None:
        self.store = store

    def grant(self, entry: Entry) -> Grant:
        return Grant(entry, self)

    async def admit(self, grant: Grant) -> Admission:
        assert self.store is not None, "the enforcer is used before the app started"
        key = grant.key
        admission = await self.store.admit_key_request(
            key.name,
            grant.request_id,
            rpm=key.rpm,
            concurrency=key.concurrency,
            tokens_per_day=key.tokens_per_day,
            ttl=IN_FLIGHT_TTL,
        )
        if admission.admitted:
            self._running[grant.request_id] = grant
        return admission

    def forget(self, grant: Grant) -> None:
        self._running.pop(grant.request_id, None)

    async def release(self, grant: Grant, usage: KeyUsage | None) -> None:
        assert self.store is not None
        await self.store.release_key_request(grant.key.name, grant.request_id, usage)

    @property
    def running(self) -> int:
        """Admitted requests of this process that have not ended."""
        return len(self._running)

    async def extend(self) -> None:
        """Push on the expiry of this process's running requests (a background job, every
        :data:`EXTEND_EVERY` seconds)."""
        if self.store is None or not self._running:
            return
        requests = [(g.key.name, g.request_id) for g in list(self._running.values())]
        await self.store.extend_key_requests(requests, IN_FLIGHT_TTL)


def visible_models(ids: list[str], resolve: Callable[[str], str]) -> list[str]:
    """The model ids the request's key may use (all of them without a user key)."""
    grant = current_grant.get()
    if grant is None or not grant.key.models:
        return ids
    return [m for m in ids if grant.key.allows(m, resolve(m))]


def check_listed_model(model: str, resolve: Callable[[str], str]) -> None:
    """``GET /models/{id}`` of a model the request's key may not use: 403."""
    grant = current_grant.get()
    if grant is not None and grant.key.models:
        grant.check_model(model, resolve(model))


def expiry_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
