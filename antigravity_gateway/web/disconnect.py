"""Stop a request's work when its client hangs up.

Once the body is read, the only message left on an HTTP request's ``receive`` is ``http.disconnect``.
:class:`cancel_on_disconnect` waits for it next to the work: when it comes first, the request's own
task is cancelled (upstream calls, waits for cooldowns and all) and :class:`ClientDisconnected` (499,
for the request log) is raised in its place. The watcher starts only once a request has run for
:data:`WATCH_AFTER` seconds: most answers come sooner, and for them this costs one timer instead of a
task. Streams have their own watcher once they answer (``web/streaming.py``).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from starlette.requests import Request

from antigravity_gateway.errors import ClientDisconnected

logger = logging.getLogger(__name__)

#: Seconds before a request starts watching for its client's hang-up.
WATCH_AFTER = 0.25


class cancel_on_disconnect:  # used like a function: ``async with cancel_on_disconnect(request)``
    """``async with cancel_on_disconnect(request): ...`` runs the body unless the client hangs up first."""

    __slots__ = ("_handle", "_hung_up", "_request", "_task", "_watcher")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._hung_up = False
        self._watcher: asyncio.Future[None] | None = None

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._handle = asyncio.get_running_loop().call_later(WATCH_AFTER, self._start)

    def _start(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self._request.receive())["type"] != "http.disconnect":
            pass
        self._hung_up = True
        self._task.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._hung_up and isinstance(exc, asyncio.CancelledError):
            if self._task.uncancel():
                return  # cancelled for another reason too (shutdown): let that cancellation go on
            request = self._request
            logger.info(
                "client hung up on %s %s; its upstream work was stopped", request.method, request.url.path
            )
            raise ClientDisconnected("the client closed the connection before the answer") from None
