"""A stream that breaks: what arrived before the break is relayed, then the error (aiohttp raises the
break before handing out the bytes it still holds)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol

from antigravity_gateway.errors import UpstreamUnavailable
from antigravity_gateway.upstream.client import StreamResponse


async def test_bytes_received_before_a_break_are_relayed_before_the_error() -> None:
    loop = asyncio.get_running_loop()
    content = aiohttp.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    content.feed_data(b'data: {"n": 1}\r\n\r\n')
    content.feed_data(b'data: {"n": 2}\r\n\r\n')
    content.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))
    response: Any = SimpleNamespace(content=content)
    received = []
    with pytest.raises(UpstreamUnavailable, match="upstream stream broke"):
        async for chunk in StreamResponse(response, "daily").chunks():
            received.append(chunk)
    assert b"".join(received) == b'data: {"n": 1}\r\n\r\ndata: {"n": 2}\r\n\r\n'
