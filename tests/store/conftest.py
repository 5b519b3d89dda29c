"""The store backends the contract tests run against: SQLite and Redis (a real ``redis-server``).
``open_store()`` opens one more store on the same shared state (another process of the pool, as far as
the store can tell: the same SQLite file, or the same Redis with its own local copy, as on another host).
``store`` is one open store and ``stores()`` opens more, closed at the end of the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from antigravity_gateway.store.base import Store
from antigravity_gateway.store.redis import RedisStore
from antigravity_gateway.store.sqlite import SQLiteStore

StoreOpener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    if request.param == "sqlite":
        yield lambda: SQLiteStore(tmp_path / "gateway.db")
    else:
        url = request.getfixturevalue("redis_url")
        hosts = iter(range(1, 1000))
        yield lambda: RedisStore(url, local=SQLiteStore(tmp_path / f"host{next(hosts)}" / "gateway.db"))


@pytest.fixture
async def stores(open_store: StoreOpener) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    async with AsyncExitStack() as stack:

        async def open_one() -> Store:
            return await stack.enter_async_context(open_store())  # type: ignore[arg-type]

        yield open_one


@pytest.fixture
async def store(stores: Callable[[], Awaitable[Store]]) -> Store:
    return await stores()
