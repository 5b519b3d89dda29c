"""The request-log writer never blocks a request and never holds more than MAX_PENDING records."""

from __future__ import annotations

import asyncio
from pathlib import Path

from antigravity_gateway.store import request_log
from antigravity_gateway.store.base import RequestQuery, RequestRecord
from antigravity_gateway.store.sqlite import SQLiteStore


def test_the_pending_queue_is_bounded(tmp_path: Path) -> None:
    async def run() -> tuple[int, int, int]:
        async with SQLiteStore(tmp_path / "db.sqlite") as store:
            logger = request_log.RequestLogger(store, keep_days=1, max_rows=1_000_000)
            # not entered: nothing drains the queue, as when the disk stalls
            for _ in range(request_log.MAX_PENDING + 250):
                logger.submit(RequestRecord(protocol="gemini", path="/v1beta/x"))
            pending = len(logger._pending)
            await logger.flush()
            rows = len(await store.query_requests(RequestQuery(limit=10)))
            return pending, logger.dropped, rows

    pending, dropped, rows = asyncio.run(run())
    assert pending == request_log.MAX_PENDING
    assert dropped == 250
    assert rows == 10
