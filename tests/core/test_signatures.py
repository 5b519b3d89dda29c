from __future__ import annotations

from antigravity_gateway.core.signatures import ToolSignatures


def test_bounded_and_oldest_first() -> None:
    cache = ToolSignatures(limit=2)
    cache.update({"a": "1", "b": "2"})
    cache["a"] = "1b"  # refreshed: now the newest
    cache.update({"c": "3"})
    assert dict(cache) == {"a": "1b", "c": "3"}
