"""Conversation bindings: made only after a success, bounded by count and age in memory and in the store,
and the cap holds when they are loaded."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from antigravity_gateway.accounts import scheduler as scheduler_module
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.scheduler import Scheduler
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Cooldown
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import Gateway, GatewayFactory

T = TypeVar("T")
URL = "/v1beta/models/{model}:generateContent"


def on_loop(gateway: Gateway, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, gateway.state.loop).result(10)


def stored(gateway: Gateway) -> dict[str, float]:
    async def read() -> dict[str, float]:
        await gateway.state.scheduler.drain()
        return {}

    on_loop(gateway, read())
    with sqlite3.connect(gateway.settings.db_path) as conn:
        return dict(conn.execute("SELECT session_key, updated_at FROM bindings").fetchall())


def ask(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_failed_requests_bind_nothing(gateway: Gateway) -> None:
    http = gateway.http()
    for i in range(20):
        answer = http.post(URL.format(model="no-such-model"), json=ask(f"A distinct first message {i}"))
        assert answer.status_code == 404
    assert gateway.state.scheduler.bindings == {}
    assert stored(gateway) == {}
    assert http.post(URL.format(model="gemini-2.5-flash"), json=ask("This one works fine")).status_code == 200
    assert len(gateway.state.scheduler.bindings) == 1
    assert len(stored(gateway)) == 1


def test_bindings_are_capped_on_load_and_pruned_by_age_and_count(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory()
    account_id = gateway.accounts[0].id
    now = time.time()
    old = now - scheduler_module.BINDING_MAX_AGE - 60
    rows = [(f"sid-old-{i}", account_id, old + i) for i in range(5)]
    rows += [(f"sid-new-{i}", account_id, now - 100 + i) for i in range(10)]
    with sqlite3.connect(gateway.settings.db_path) as conn:
        conn.executemany("INSERT INTO bindings (session_key, account_id, updated_at) VALUES (?, ?, ?)", rows)
    monkeypatch.setattr(scheduler_module, "MAX_BINDINGS", 8)
    scheduler = gateway.state.scheduler
    on_loop(gateway, scheduler.load())
    assert list(scheduler.bindings) == [f"sid-new-{i}" for i in range(2, 10)]  # the 8 most recent

    async def prune() -> None:
        scheduler.prune_bindings()
        await scheduler.drain()

    on_loop(gateway, prune())
    assert sorted(stored(gateway)) == sorted(f"sid-new-{i}" for i in range(2, 10))
    # a new binding pushes out the least recently used one
    assert (
        gateway.http().post(URL.format(model="gemini-2.5-flash"), json=ask("A brand new talk")).status_code
        == 200
    )
    assert len(scheduler.bindings) == 8 and "sid-new-2" not in scheduler.bindings


def test_bindings_unused_for_too_long_are_dropped_in_memory(gateway: Gateway) -> None:
    http = gateway.http()
    assert http.post(URL.format(model="gemini-2.5-flash"), json=ask("An old conversation")).status_code == 200
    scheduler = gateway.state.scheduler
    (key,) = scheduler.bindings
    later = time.time() + scheduler_module.BINDING_MAX_AGE + 60

    async def prune() -> None:
        scheduler.prune_bindings(later)
        await scheduler.drain()

    on_loop(gateway, prune())
    assert scheduler.bindings == {}


async def test_a_clear_during_a_load_is_not_undone(tmp_path: Path) -> None:
    """The gateway reloads cooldowns when another process wrote the store; a cooldown cleared from the
    dashboard while that read is under way must stay cleared (it came back in a CI run)."""
    settings = Settings(home=tmp_path)
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        scheduler = Scheduler(pool, ModelCatalog(pool))
        await store.save_cooldown(Cooldown("acct", "gemini-2.5-flash", time.time() + 3600, "quota_exhausted"))
        original = store.list_cooldowns
        cleared = asyncio.Event()

        async def slow_list() -> list[Cooldown]:
            rows = await original()  # the old rows are read ...
            if not cleared.is_set():  # ... then, once, the dashboard clears before the load assigns them
                scheduler.clear_cooldowns()
                cleared.set()
            return rows

        store.list_cooldowns = slow_list  # type: ignore[method-assign]
        await scheduler.load()
        store.list_cooldowns = original  # type: ignore[method-assign]
        assert cleared.is_set()
        assert scheduler.cooldowns == {}
        await scheduler.drain()
        assert await store.list_cooldowns() == []
