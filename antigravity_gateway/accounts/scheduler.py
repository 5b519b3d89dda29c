"""Which account serves a request: cooldowns per account and model, sticky conversations, modes.

Candidates are the usable accounts that are not cooling down for the model, have it (when their
catalog is known) and, with quota protection on, have at least that share of its quota left. Then,
by ``scheduling_mode``:

- ``balance`` (default): a conversation keeps the account it is bound to while that account is
  healthy (warm upstream prompt cache); new conversations go to the account with the most quota left
  for the model (10 % steps), then the soonest reset, then the least recent use, and are bound to it.
- ``cache-first``: like balance, but when the conversation's account is cooling down for at most
  ``cache_first_max_wait`` seconds the request waits for it instead of switching.
- ``performance``: the account with the fewest requests in flight; no stickiness.
- ``fixed``: always ``fixed_account`` while it can serve; otherwise as balance.

When every account is cooling down, :class:`AllAccountsCoolingDown` carries the soonest recovery.
Cooldowns and bindings are written through to the store, so they survive a restart and reach the other
processes sharing it (read back by :meth:`Scheduler.load` when the store reports them changed); the
requests in flight per account are published there too (:meth:`Scheduler.share_in_flight`). A conversation is
bound only once a request of it succeeded (:meth:`Scheduler.succeeded`), and bindings are bounded: at
most :data:`MAX_BINDINGS`, none unused for :data:`BINDING_MAX_AGE`, in memory and in the store.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Collection, Coroutine
from typing import Any, get_args

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import AllAccountsCoolingDown, NoAccountAvailable
from antigravity_gateway.store.base import Account, Cooldown, StoreArea

logger = logging.getLogger(__name__)

ANY_MODEL = "*"
#: Conversation bindings kept (in memory and in the store); the least recently used go first.
MAX_BINDINGS = 50_000
#: A binding not used for this long is dropped: the upstream's prompt cache is long cold by then.
BINDING_MAX_AGE = 7 * 86400.0
#: How often bindings are pruned (by age, and in the store also by count).
BINDING_PRUNE_INTERVAL = 3600.0
#: A binding still in use is written again (its age renewed in the store) at most this often.
BINDING_REFRESH = 3600.0
#: Bindings written this long before the last read are read again (clocks of hosts sharing Redis differ).
BINDING_READ_OVERLAP = 10.0
#: A process's published requests in flight count for this long (a dead process's expire with it) ...
IN_FLIGHT_TTL = 15.0
#: ... and are published again at least this often, and whenever they changed.
IN_FLIGHT_REPUBLISH = 5.0
ALL_AREAS: frozenset[StoreArea] = frozenset(get_args(StoreArea))
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Scheduler:
    def __init__(self, pool: AccountPool, catalog: ModelCatalog) -> None:
        self.pool = pool
        self.catalog = catalog
        self.cooldowns: dict[tuple[str, str], Cooldown] = {}
        self.bindings: dict[str, str] = {}  # least recently used first
        self._bound_at: dict[str, float] = {}
        self._next_prune = 0.0
        self.in_flight: dict[str, int] = {}  # this process's
        self.others_in_flight: dict[str, int] = {}  # the other processes', as last published
        self._published: tuple[dict[str, int], float] = ({}, 0.0)
        self._background: set[asyncio.Task[None]] = set()
        self._writes = 0  # store writes scheduled so far (see load)
        self._bindings_read_at = 0.0

    async def load(self, areas: Collection[StoreArea] = ALL_AREAS) -> None:
        """Read cooldowns and bindings from the store: at start, and when the store reports them
        changed (by another process, or this one). New bindings are read incrementally; all of them only
        when some were removed (``bindings_reset``) or at start.

        A change made here while the store is being read (a cooldown cleared from the dashboard, a new
        429) would be overwritten by the older rows: when one was scheduled meanwhile, read again."""
        store = self.pool.store
        full = "bindings_reset" in areas
        while True:
            await self.drain()
            writes = self._writes
            read_at = time.time()
            cooldowns = await store.list_cooldowns() if "cooldowns" in areas else None
            bindings: dict[str, str] | None = None
            if full:
                bindings = await store.list_bindings()
            elif "bindings" in areas:
                bindings = await store.list_bindings(since=self._bindings_read_at - BINDING_READ_OVERLAP)
            if writes == self._writes:
                break
        if cooldowns is not None:
            self.cooldowns = {(c.account_id, c.model): c for c in cooldowns}
        if bindings is None:
            return
        self._bindings_read_at = read_at
        now = time.time()
        if full:
            keep = list(bindings)[-MAX_BINDINGS:]  # the most recently bound
            self.bindings = {key: bindings[key] for key in keep}
            self._bound_at = {key: self._bound_at.get(key, now) for key in keep}
            if len(bindings) > len(keep):
                self._next_prune = 0.0  # and from the store too, at the next binding
            return
        for key, account_id in bindings.items():  # least recently bound first: the newest end up last
            self.bindings.pop(key, None)
            self.bindings[key] = account_id
            self._bound_at[key] = max(self._bound_at.get(key, 0.0), now - BINDING_READ_OVERLAP)
        while len(self.bindings) > MAX_BINDINGS:
            oldest = next(iter(self.bindings))
            del self.bindings[oldest]
            self._bound_at.pop(oldest, None)

    async def recall(self, session_key: str | None) -> None:
        """Before choosing for a conversation this process has not bound: the store may know its account
        (another worker or host served it a moment ago, before the change reached this process)."""
        if (
            session_key is None
            or session_key in self.bindings
            or self.pool.settings.scheduling_mode == "performance"
        ):
            return
        try:
            account_id = await self.pool.store.get_binding(session_key)
        except Exception as exc:  # the store unreachable: choose without it
            logger.debug("conversation binding not read from the store: %s", exc)
            return
        if account_id is not None and session_key not in self.bindings:
            self.bindings[session_key] = account_id
            self._bound_at[session_key] = time.time()

    async def share_in_flight(self) -> None:
        """Publish this process's requests in flight per account (when they changed, and at least every
        :data:`IN_FLIGHT_REPUBLISH`) and read the other processes' (``performance`` mode counts both)."""
        now = time.monotonic()
        published, at = self._published
        if published == self.in_flight and now - at < IN_FLIGHT_REPUBLISH:
            return
        counts = dict(self.in_flight)
        self.others_in_flight = await self.pool.store.publish_in_flight(
            self.pool.holder, counts, IN_FLIGHT_TTL
        )
        self._published = (counts, now)

    def _persist(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        self._writes += 1
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self) -> None:
        """Wait for pending store writes (called at shutdown and by tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- cooldowns --------------------------------------------------------------------------------

    def cooling_until(self, account_id: str, model: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        until = 0.0
        for key in ((account_id, model), (account_id, ANY_MODEL)):
            cooldown = self.cooldowns.get(key)
            if cooldown is not None:
                if cooldown.until > now:
                    until = max(until, cooldown.until)
                else:
                    del self.cooldowns[key]
        return until

    def cool(self, account: Account, model: str, seconds: float, reason: str, message: str = "") -> None:
        until = time.time() + max(0.0, seconds)
        key = (account.id, model)
        previous = self.cooldowns.get(key)
        if previous is not None and previous.until >= until:
            return
        cooldown = Cooldown(account.id, model, until, reason, message[:500])
        self.cooldowns[key] = cooldown
        logger.info("account %s cooling down for %s: %s for %.1fs", account.email, model, reason, seconds)
        self._persist(self.pool.store.save_cooldown(cooldown))

    def clear_cooldowns(self, account_id: str | None = None) -> None:
        if account_id is None:
            self.cooldowns.clear()
        else:
            self.cooldowns = {k: v for k, v in self.cooldowns.items() if k[0] != account_id}
        self._persist(self.pool.store.clear_cooldowns(account_id))

    # -- choice -----------------------------------------------------------------------------------

    def pick(self, model: str, session_key: str | None, exclude: Collection[str] = ()) -> Account:
        """The account for the next attempt, following ``scheduling_mode``. Raises when none can serve now."""
        settings = self.pool.settings
        now = time.time()
        usable = [a for a in self.pool.accounts.values() if a.usable and a.id not in exclude]
        if not usable:
            if any(a.usable for a in self.pool.accounts.values()):
                raise NoAccountAvailable("every account was tried for this request")
            raise NoAccountAvailable(_no_account_message(self.pool.accounts.values()))
        ready = [a for a in usable if self.cooling_until(a.id, model, now) <= now]
        if not ready:
            soonest = min(self.cooling_until(a.id, model, now) for a in usable)
            raise AllAccountsCoolingDown(
                f"every account is cooling down for {model}; the first one recovers in {soonest - now:.0f}s",
                retry_after=max(0.0, soonest - now),
            )
        if settings.quota_protection > 0:
            ready = self._protect(ready, model, settings.quota_protection, now)
        candidates = [a for a in ready if self.catalog.has_model(a.id, model) is not False] or ready

        if settings.scheduling_mode == "fixed" and settings.fixed_account:
            for account in candidates:
                if settings.fixed_account in (account.id, account.email):
                    return self._use(account, now)
        if settings.scheduling_mode == "performance":
            account = min(
                candidates,
                key=lambda a: (
                    self.in_flight.get(a.id, 0) + self.others_in_flight.get(a.id, 0),
                    a.last_used_at,
                ),
            )
            return self._use(account, now)
        if session_key is not None and (bound := self.bindings.get(session_key)) is not None:
            for account in candidates:
                if account.id == bound:
                    return self._use(account, now)
        account = min(candidates, key=lambda a: self._preference(a, model))
        return self._use(account, now)

    def _preference(self, account: Account, model: str) -> tuple[float, ...]:
        """Lower is better: priority, then more quota left (in 10 % steps), sooner reset, least recent use."""
        remaining = self.catalog.remaining(account.id, model)
        reset = self.catalog.reset_time(account.id, model)
        step = -round((1.0 if remaining is None else remaining) * 10)
        return (-account.priority, step, reset if reset is not None else float("inf"), account.last_used_at)

    def _protect(self, ready: list[Account], model: str, threshold: float, now: float) -> list[Account]:
        """Quota protection: accounts below ``threshold`` % for the model sit out until their reset."""
        kept = [
            a for a in ready if (r := self.catalog.remaining(a.id, model)) is None or r * 100 >= threshold
        ]
        if kept:
            return kept
        resets = [t for a in ready if (t := self.catalog.reset_time(a.id, model)) is not None and t > now]
        raise AllAccountsCoolingDown(
            f"every account is below the quota protection threshold ({threshold:g} %) for {model}",
            retry_after=max(0.0, min(resets) - now) if resets else 60.0,
        )

    def _use(self, account: Account, now: float) -> Account:
        account.last_used_at = now
        return account

    async def succeeded(self, session_key: str | None, account: Account, *, wait: bool = True) -> None:
        """A request of the conversation ``session_key`` was served by ``account``: keep it there
        (not in ``performance`` mode, nor on the ``fixed`` account, which need no binding). With ``wait``,
        a new binding is in the store before the answer goes out, so the conversation's next request
        finds it on any worker or host; a renewal (and, without ``wait``, a new one) is written in the
        background."""
        settings = self.pool.settings
        if session_key is None or settings.scheduling_mode == "performance":
            return
        if settings.scheduling_mode == "fixed" and settings.fixed_account in (account.id, account.email):
            return
        written = self.bind(session_key, account)
        if written is not None and wait:
            try:
                await written
            except Exception as exc:  # the store unreachable: the binding holds in this process
                logger.warning("conversation binding not saved: %s", exc)

    def bind(self, session_key: str, account: Account) -> asyncio.Future[None] | None:
        """Bind the conversation to the account. Returns the store write of a new binding (renewals are
        not waited for)."""
        now = time.time()
        new = self.bindings.get(session_key) != account.id
        if not new:
            if now - self._bound_at.get(session_key, 0.0) < BINDING_REFRESH:
                return None  # renewed (and moved to the young end) at most once per BINDING_REFRESH
            self.bindings[session_key] = self.bindings.pop(session_key)
        else:
            self.bindings.pop(session_key, None)
            self.bindings[session_key] = account.id
        self._bound_at[session_key] = now
        while len(self.bindings) > MAX_BINDINGS:
            oldest = next(iter(self.bindings))
            del self.bindings[oldest]
            self._bound_at.pop(oldest, None)
        written = self._persist(self.pool.store.save_binding(session_key, account.id))
        if now >= self._next_prune:
            self.prune_bindings(now)
        return written if new else None

    def prune_bindings(self, now: float | None = None) -> None:
        """Drop bindings unused for :data:`BINDING_MAX_AGE`, here and in the store (which also keeps at
        most :data:`MAX_BINDINGS`)."""
        now = time.time() if now is None else now
        self._next_prune = now + BINDING_PRUNE_INTERVAL
        cutoff = now - BINDING_MAX_AGE
        stale = [key for key in self.bindings if self._bound_at.get(key, now) < cutoff]
        for key in stale:
            del self.bindings[key]
            self._bound_at.pop(key, None)
        self._persist(self._prune_store(cutoff))

    async def _prune_store(self, cutoff: float) -> None:
        removed = await self.pool.store.prune_bindings(older_than=cutoff, max_rows=MAX_BINDINGS)
        if removed:
            logger.info("pruned %d old conversation bindings", removed)

    def clear_bindings(self, account_id: str | None = None) -> None:
        if account_id is None:
            self.bindings.clear()
        else:
            self.bindings = {k: v for k, v in self.bindings.items() if v != account_id}
        self._bound_at = {k: t for k, t in self._bound_at.items() if k in self.bindings}
        self._persist(self.pool.store.clear_bindings(account_id))

    def bound_wait(self, model: str, session_key: str | None) -> float:
        """cache-first: seconds to wait for the conversation's own account (0 when it is ready or gone)."""
        settings = self.pool.settings
        if settings.scheduling_mode != "cache-first" or session_key is None:
            return 0.0
        account = self.pool.accounts.get(self.bindings.get(session_key, ""))
        if account is None or not account.usable:
            return 0.0
        wait = self.cooling_until(account.id, model) - time.time()
        return wait if 0 < wait <= settings.cache_first_max_wait else 0.0

    def started(self, account: Account) -> None:
        self.in_flight[account.id] = self.in_flight.get(account.id, 0) + 1

    def finished(self, account: Account) -> None:
        count = self.in_flight.get(account.id, 0) - 1
        if count > 0:
            self.in_flight[account.id] = count
        else:
            self.in_flight.pop(account.id, None)

    def soonest_recovery(self, model: str) -> float | None:
        """Seconds until some usable account may serve ``model`` again (``None`` if one can now)."""
        now = time.time()
        waits = [self.cooling_until(a.id, model, now) - now for a in self.pool.accounts.values() if a.usable]
        if not waits or min(waits) <= 0:
            return None
        return min(waits)


def _no_account_message(accounts: Collection[Account]) -> str:
    """What a client is told: how many accounts are in which state and why, never which accounts (their
    emails are in the gateway log, ``agw accounts list`` and the dashboard)."""
    if not accounts:
        return "no Google account is configured: add one with `agw accounts add --refresh-token ...`"
    logger.warning(
        "no usable Google account: %s",
        ", ".join(f"{a.email}: {a.status} ({a.status_reason})" for a in accounts),
    )
    by_status: dict[str, list[str]] = {}
    for account in accounts:
        reasons = by_status.setdefault(account.status, [])
        reason = _EMAIL.sub("<account>", account.status_reason)[:200]
        if reason and reason not in reasons:
            reasons.append(reason)
    states = ", ".join(
        f"{sum(1 for a in accounts if a.status == status)} {status}"
        + (f" ({'; '.join(reasons[:3])})" if reasons else "")
        for status, reasons in by_status.items()
    )
    return f"no usable Google account ({len(accounts)} in the pool: {states})"
