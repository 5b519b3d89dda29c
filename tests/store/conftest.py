"""The store contract runs against both backends: ``store`` is an open store, ``other_store()`` opens
another one on the same data (another process on the same AGW_HOME, or another host on the same Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from antigravity_gateway.store.base import Store
from antigravity_gateway.store.redis import RedisStore
from antigravity_gateway.store.sqlite import SQLiteStore

OpenStore = Callable[[], "AsyncIterator[Store]"]


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_maker(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Store]:
    """Makes unopened stores on the test's data: the same SQLite file, or the same Redis (each with its
    own local copy, as on another host)."""
    made = [0]

    def make() -> Store:
        made[0] += 1
        if backend == "sqlite":
            return SQLiteStore(tmp_path / "gateway.db")
        url = request.getfixturevalue("redis_url")
        return RedisStore(url, local=SQLiteStore(tmp_path / f"host{made[0]}" / "gateway.db"))

    return make


@pytest.fixture
async def stores(store_maker: Callable[[], Store]) -> AsyncIterator[Callable[[], object]]:
    async with AsyncExitStack() as stack:

        async def open_one() -> Store:
            return await stack.enter_async_context(store_maker())  # type: ignore[arg-type]

        yield open_one


@pytest.fixture
async def store(stores: Callable[[], object]) -> Store:
    return await stores()  # type: ignore[misc, no-any-return]
