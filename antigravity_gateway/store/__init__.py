"""The stores: SQLite in one AGW_HOME (the default), Redis when several hosts share a pool."""

from __future__ import annotations

from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Store
from antigravity_gateway.store.crypto import resolve_secret_key
from antigravity_gateway.store.sqlite import store_for


def open_store(settings: Settings) -> Store:
    """The pool's store for ``settings`` (use as ``async with open_store(settings) as store``): Redis when
    ``redis_url`` is set (with the local SQLite store as its durable copy and request log), else the
    SQLite store in ``settings.home``."""
    if not settings.redis_url:
        return store_for(settings)
    from antigravity_gateway.store.redis import RedisStore  # redis-py only when it is used

    return RedisStore(
        settings.redis_url,
        local=store_for(settings),
        prefix=settings.redis_prefix,
        secret_key=resolve_secret_key(settings),
    )
