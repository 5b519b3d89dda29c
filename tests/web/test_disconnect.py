"""A client that hangs up stops the work done for it: upstream calls are cancelled, the account is
released at once, and the request is logged as 499 with the time it really took."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import Fault
from antigravity_gateway.store.base import RequestQuery
from tests.conftest import Gateway
from tests.rawhttp import connect

BODIES = {
    "/v1beta/models/gemini-2.5-flash:generateContent": {"contents": [{"parts": [{"text": "Slow one"}]}]},
    "/v1/chat/completions": {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Slow"}]},
    "/v1/messages": {
        "model": "claude-sonnet-4-6",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "x"}],
    },
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse": {
        "contents": [{"parts": [{"text": "S"}]}]
    },
}


def logged(gateway: Gateway) -> list[Any]:
    async def read() -> list[Any]:
        await gateway.state.request_logger.flush()
        return await gateway.state.pool.store.query_requests(RequestQuery(limit=10))

    return asyncio.run_coroutine_threadsafe(read(), gateway.state.loop).result(10)


@pytest.mark.parametrize("path", list(BODIES))
def test_a_client_hang_up_cancels_the_upstream_work(gateway: Gateway, path: str) -> None:
    gateway.emulator.add_fault(Fault.slow_first_byte(8, times=None))
    body = orjson.dumps(BODIES[path])
    sock = connect(gateway.url)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    scheduler = gateway.state.scheduler
    deadline = time.monotonic() + 5
    while not scheduler.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(scheduler.in_flight.values()) == 1  # the attempt is waiting on the slow upstream
    sock.close()
    closed = time.monotonic()
    while scheduler.in_flight and time.monotonic() - closed < 2:
        time.sleep(0.01)
    assert scheduler.in_flight == {}
    deadline = time.monotonic() + 3
    while not (rows := logged(gateway)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = rows
    assert row.status == 499
    assert row.duration_ms < 3000
    deadline = time.monotonic() + 5  # the upstream call was really dropped, not left running
    while not any(r.status == 499 for r in gateway.emulator.requests):
        assert time.monotonic() < deadline
        time.sleep(0.01)
