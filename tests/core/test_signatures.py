from __future__ import annotations

from antigravity_gateway.core.signatures import ToolSignatures


def test_bounded_and_oldest_first() -> None:
    cache = ToolSignatures(limit=2)
    cache.update({"a": "1", "b": "2"})
    cache["a"] = "1b"  # refreshed: now the newest
    cache.update({"c": "3"})
    assert dict(cache) == {"a": "1b", "c": "3"}


def test_the_gateway_cache_is_bounded() -> None:
    from antigravity_gateway.core.signatures import DEFAULT_LIMIT

    cache = ToolSignatures()
    for i in range(DEFAULT_LIMIT + 500):
        cache[f"call_{i}"] = "sig" * 10
    assert len(cache) == DEFAULT_LIMIT
    assert "call_0" not in cache and f"call_{DEFAULT_LIMIT + 499}" in cache
