"""The stall check of open upstream streams: one timer for all of them, and only the time a read waits
for upstream counts (not the time the gateway's own client takes to read on)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol

from antigravity_gateway.errors import UpstreamUnavailable
from antigravity_gateway.upstream.client import StallWatch, StreamResponse


def _stream(watch: StallWatch, idle: float) -> tuple[StreamResponse, aiohttp.StreamReader]:
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.connection_made(MagicMock(spec=asyncio.Transport))  # a connected upstream
    content = aiohttp.StreamReader(protocol, 2**16, loop=loop)
    response: Any = SimpleNamespace(content=content, connection=None)
    return StreamResponse(response, "daily", idle, watch), content


async def test_silence_longer_than_the_idle_timeout_ends_the_stream() -> None:
    watch = StallWatch()
    stream, content = _stream(watch, 0.2)
    content.feed_data(b"data: 1\r\n\r\n")
    received = []
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match=r"stalled: nothing arrived for 0\.2 s") as raised:
        async for chunk in stream.chunks():
            received.append(chunk)
    assert raised.value.status == 504
    assert received == [b"data: 1\r\n\r\n"]
    assert 0.2 <= time.monotonic() - started < 1.0
    assert watch._handle is None  # nothing open: the timer stopped


async def test_steady_chunks_and_a_slow_reader_are_not_a_stall() -> None:
    watch = StallWatch()
    stream, content = _stream(watch, 0.2)

    async def upstream() -> None:
        for i in range(6):  # 0.6 s in all, never 0.2 s of silence
            content.feed_data(b"data: %d\r\n\r\n" % i)
            await asyncio.sleep(0.1)
        content.feed_eof()

    feeder = asyncio.ensure_future(upstream())
    received = []
    async for chunk in stream.chunks():
        received.append(chunk)
        if len(received) == 1:
            await asyncio.sleep(0.5)  # the gateway's client is slow: not upstream's silence
    await feeder
    assert b"".join(received) == b"".join(b"data: %d\r\n\r\n" % i for i in range(6))
