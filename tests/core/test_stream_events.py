"""The pipeline's reading of an upstream stream: events as they come (those of one read together), and a
bounded event size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from antigravity_gateway.core.pipeline import _Batches
from antigravity_gateway.protocols.sse import EventTooLarge
from antigravity_gateway.upstream.client import UpstreamHTTPError


class FakeStream:
    """Stands in for ``StreamResponse``: the bytes Google would send, in chunks of ``size``."""

    def __init__(self, raw: bytes, size: int) -> None:
        self.raw, self.size, self.closed = raw, size, False
        self.sent = 0

    def _next(self) -> bytes:
        chunk = self.raw[self.sent : self.sent + self.size]
        self.sent += len(chunk)
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.sent < len(self.raw):
            yield self._next()

    def close(self) -> None:
        self.closed = True

    def can_push(self) -> bool:
        return True

    def push(self, sink: Any) -> bool:
        """The rest at once, as aiohttp would call a pushed stream's sink (the end too)."""
        while self.sent < len(self.raw):
            sink.data(self._next())
        sink.end(None)
        return True


def event(text: str) -> bytes:
    body = {"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}}
    return b"data: " + orjson.dumps(body) + b"\r\n\r\n"


async def collect(stream: FakeStream, limit: int) -> list[dict[str, Any]]:
    return [e async for batch in _Batches(stream, limit) for e in batch]  # type: ignore[arg-type]


async def test_events_under_the_limit_are_unwrapped() -> None:
    stream = FakeStream(event("a") + event("b" * 5000), 1000)
    events = await collect(stream, 64 * 1024)
    assert [e["candidates"][0]["content"]["parts"][0]["text"][:1] for e in events] == ["a", "b"]
    assert stream.closed


async def test_an_event_over_the_limit_ends_the_stream_with_a_clear_error() -> None:
    """A large inline image arrives in one event: over max_stream_event_bytes it is an error, not a buffer
    that grows without bound."""
    stream = FakeStream(event("ok") + event("x" * 200_000) + event("never"), 16 * 1024)
    seen = []
    with pytest.raises(EventTooLarge, match="max_stream_event_bytes"):
        async for batch in _Batches(stream, 64 * 1024):  # type: ignore[arg-type]
            seen.extend(batch)
    assert len(seen) == 1 and stream.closed


def texts(batch: list[dict[str, Any]]) -> list[str]:
    return [e["candidates"][0]["content"]["parts"][0]["text"] for e in batch]


async def test_the_events_of_one_read_come_together_and_none_waits_for_the_next_read() -> None:
    raw = event("a") + event("b") + event("c")
    cut = len(event("a") + event("b")) + 5  # the third event is split across two reads
    stream = FakeStream(raw, cut)
    batches = [texts(b) async for b in _Batches(stream, 64 * 1024)]  # type: ignore[arg-type]
    assert batches == [["a", "b"], ["c"]]


async def test_an_error_event_after_others_in_one_read_comes_after_them() -> None:
    error = b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n'
    stream = FakeStream(event("a") + event("b") + error + event("never"), 1 << 20)
    batches = _Batches(stream, 64 * 1024)  # type: ignore[arg-type]
    assert texts(await batches.__anext__()) == ["a", "b"]
    with pytest.raises(UpstreamHTTPError) as caught:
        await batches.__anext__()
    assert caught.value.error.http_status == 503 and stream.closed


async def pushed(stream: FakeStream, limit: int) -> tuple[list[list[str]], BaseException | None]:
    """The batches and the end of a stream read first (one batch), then pushed."""
    batches = _Batches(stream, limit)  # type: ignore[arg-type]
    received = [texts(await batches.__anext__())]
    ends: list[BaseException | None] = []
    assert await batches.push(lambda batch: received.append(texts(batch)), ends.append)
    assert len(ends) == 1
    return received, ends[0]


async def test_pushed_events_come_in_the_same_batches_and_the_end_once() -> None:
    raw = event("a") + event("b") + event("c") + event("d")
    cut = len(event("a")) + 5
    stream = FakeStream(raw, cut)
    received, end = await pushed(stream, 64 * 1024)
    assert received == [["a"], ["b"], ["c"], ["d"]] and end is None and stream.closed


async def test_a_pushed_error_event_ends_the_stream_after_the_events_before_it() -> None:
    error = b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n'
    stream = FakeStream(event("a") + event("b") + event("c") + error + event("never"), len(event("a")) * 2)
    received, end = await pushed(stream, 64 * 1024)
    assert received == [["a", "b"], ["c"]]
    assert isinstance(end, UpstreamHTTPError) and end.error.http_status == 503 and stream.closed


async def test_a_pushed_event_over_the_limit_ends_the_stream() -> None:
    stream = FakeStream(event("ok") + event("ok2") + event("x" * 200_000) + event("never"), 16 * 1024)
    received, end = await pushed(stream, 64 * 1024)
    assert received[0] == ["ok", "ok2"] and len(received) == 1
    assert isinstance(end, EventTooLarge) and stream.closed
