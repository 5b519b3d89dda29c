"""Which account serves a request: cooldowns per account and model, and sticky conversations.

Choice: among usable accounts that are not cooling down for the model (and have it, when their
catalog is known), a conversation keeps the account it is bound to while that account is healthy
(warm upstream prompt cache); otherwise the least recently used account wins and the conversation is
bound to it. When every account is cooling down, :class:`AllAccountsCoolingDown` carries the soonest
recovery. Cooldowns and bindings are written through to the store, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Coroutine
from typing import Any

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import AllAccountsCoolingDown, NoAccountAvailable
from antigravity_gateway.store.base import Account, Cooldown

logger = logging.getLogger(__name__)

ANY_MODEL = "*"
MAX_BINDINGS = 50_000


class Scheduler:
    def __init__(self, pool: AccountPool, catalog: ModelCatalog) -> None:
        self.pool = pool
        self.catalog = catalog
        self.cooldowns: dict[tuple[str, str], Cooldown] = {}
        self.bindings: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        self.cooldowns = {(c.account_id, c.model): c for c in await self.pool.store.list_cooldowns()}
        self.bindings = await self.pool.store.list_bindings()

    def _persist(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        """The account for the next attempt. Raises when none can serve now."""
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
                retry_after=max(1.0, soonest - now),
            )
        having = [a for a in ready if self.catalog.has_model(a.id, model) is not False]
        candidates = having or ready
        if session_key is not None:
            bound = self.bindings.get(session_key)
            if bound is not None:
                for account in candidates:
                    if account.id == bound:
                        account.last_used_at = now
                        return account
        account = min(candidates, key=lambda a: (-a.priority, a.last_used_at, a.created_at))
        account.last_used_at = now
        if session_key is not None and self.bindings.get(session_key) != account.id:
            if len(self.bindings) >= MAX_BINDINGS:
                self.bindings.pop(next(iter(self.bindings)))
            self.bindings[session_key] = account.id
            self._persist(self.pool.store.save_binding(session_key, account.id))
        return account

    def soonest_recovery(self, model: str) -> float | None:
        """Seconds until some usable account may serve ``model`` again (``None`` if one can now)."""
        now = time.time()
        waits = [self.cooling_until(a.id, model, now) - now for a in self.pool.accounts.values() if a.usable]
        if not waits or min(waits) <= 0:
            return None
        return min(waits)


def _no_account_message(accounts: Collection[Account]) -> str:
    if not accounts:
        return "no Google account is configured: add one with `agw accounts add --refresh-token ...`"
    states = ", ".join(
        f"{a.email}: {a.status} ({a.status_reason})" if a.status_reason else f"{a.email}: {a.status}"
        for a in accounts
    )
    return f"no usable Google account ({states})"
