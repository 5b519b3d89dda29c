"""The request log: one record per client request, written off the hot path in batches.

A request's record is created by the web layer (``web/request_log.py``) and reachable from anywhere
in the request through :data:`current_record`; the pipeline fills in the account, the upstream model
and the tokens. :class:`RequestLogger` buffers finished records in memory and a background task writes
them in one transaction per batch; it also prunes old records (by age and by count). Its ``observe``
hook (the metrics) sees every finished record, also one dropped because the buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from antigravity_gateway.store.base import RequestRecord, Store

logger = logging.getLogger(__name__)

current_record: ContextVar[RequestRecord | None] = ContextVar("agw_request_record", default=None)

FLUSH_INTERVAL = 0.5
MAX_BATCH = 500
MAX_PENDING = 50_000
PRUNE_INTERVAL = 600.0


def record_usage(record: RequestRecord, usage: Any) -> None:
    """Copy Gemini ``usageMetadata`` counts into a record (the last report of a stream wins)."""
    if not isinstance(usage, dict):
        return
    record.input_tokens = int(usage.get("promptTokenCount") or 0)
    record.output_tokens = int(usage.get("candidatesTokenCount") or 0) + int(
        usage.get("thoughtsTokenCount") or 0
    )
    record.cached_tokens = int(usage.get("cachedContentTokenCount") or 0)


class RequestLogger:
    """Use as ``async with RequestLogger(store, ...)``; :meth:`submit` never blocks or fails."""

    def __init__(self, store: Store, *, keep_days: float, max_rows: int, prune: bool = True) -> None:
        self.store = store
        self.keep_days = keep_days
        self.max_rows = max_rows
        self.prune = prune  # False in all but one of several processes on one store
        self._pending: list[RequestRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.observe: Callable[[RequestRecord], None] | None = None
        self._observe_failed = False

    async def __aenter__(self) -> RequestLogger:
        self._task = asyncio.create_task(self._run(), name="agw-request-log")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    def submit(self, record: RequestRecord) -> None:
        if self.observe is not None:
            try:
                self.observe(record)
            except Exception:
                if not self._observe_failed:  # once: a broken hook would otherwise log every request
                    self._observe_failed = True
                    logger.exception("could not observe a request for the metrics")
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(record)
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self.store.append_requests(batch)
            except Exception:
                logger.exception("could not write %d request-log records", len(batch))

    async def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            self._wake.clear()
            await self.flush()
            if self.prune and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_INTERVAL
                try:
                    removed = await self.store.prune_requests(
                        older_than=time.time() - self.keep_days * 86400, max_rows=self.max_rows
                    )
                    if removed:
                        logger.info("request log: pruned %d old records", removed)
                except Exception:
                    logger.exception("could not prune the request log")
