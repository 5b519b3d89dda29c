"""The store backends the contract tests run against. ``open_store()`` opens one more store on the same
shared state (another process of the pool, as far as the store can tell)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from antigravity_gateway.store.base import Store
from antigravity_gateway.store.sqlite import SQLiteStore

StoreOpener = Callable[[], Store]


@pytest.fixture(params=["sqlite"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    if request.param == "sqlite":
        yield lambda: SQLiteStore(tmp_path / "gateway.db")
