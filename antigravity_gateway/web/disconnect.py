"""Stop a request's work when its client hangs up.

Once the body is read, the only message left on an HTTP request's ``receive`` is ``http.disconnect``.
:func:`cancel_on_disconnect` waits for it next to the work: when it comes first, the request's own task
is cancelled (upstream calls, waits for cooldowns and all) and :class:`ClientDisconnected` (499, for
the request log) is raised in its place. One small watcher task per request; streams have their own
watcher once they answer (``web/streaming.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request

from antigravity_gateway.errors import ClientDisconnected

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def cancel_on_disconnect(request: Request) -> AsyncIterator[None]:
    """Run the body of the ``async with`` unless the client hangs up first (then: 499)."""
    task = asyncio.current_task()
    assert task is not None
    hung_up = False

    async def watch() -> None:
        nonlocal hung_up
        while (await request.receive())["type"] != "http.disconnect":
            pass
        hung_up = True
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        yield
    except asyncio.CancelledError:
        if not hung_up:
            raise
        task.uncancel()
        logger.info(
            "client hung up on %s %s; its upstream work was stopped", request.method, request.url.path
        )
        raise ClientDisconnected("the client closed the connection before the answer") from None
    finally:
        watcher.cancel()
