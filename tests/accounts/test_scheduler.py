"""Conversation bindings: made only after a success, bounded by count and age in memory and in the store,
and the cap holds when they are loaded."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from antigravity_gateway.accounts import scheduler as scheduler_module
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
