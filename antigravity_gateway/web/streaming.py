"""A streaming response for relayed streams: chunks go out as they are produced; a client hang-up
stops the body iterator at once (which closes the upstream stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class Closable(Protocol):
    async def aclose(self) -> None: ...


class RelayStreamingResponse(Response):
    """Starlette's ``StreamingResponse`` for our case (async bytes, asyncio only), without anyio.

    Same behaviour: the body is sent chunk by chunk as it is produced, and when the client hangs up
    the body iterator is interrupted at once (so the upstream stream is closed), also while it is
    waiting for upstream. Starlette does this with an anyio task group per response; with uvicorn's
    ASGI 2.3 that costs about 100 µs of CPU per stream and +10 ms time to first event at 64 streams
    (bench/README.md). Here a small watcher task cancels the request's own task on
    ``http.disconnect``; that cancellation is absorbed below, any other one propagates.

    ``streams`` (the upstream streams the body reads) are closed when the response ends, also when the
    body iterator never started (closing a generator that never ran skips its ``finally``).
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        streams: Sequence[Closable] = (),
    ) -> None:
        self.body_iterator = content
        self.streams = streams
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        finished = False  # set before the last send: a disconnect after it is the normal end
        hung_up = False

        async def watch() -> None:
            nonlocal hung_up
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                hung_up = True
                task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not hung_up:
                raise
            task.uncancel()
        finally:
            finished = True
            watcher.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                for stream in self.streams:
                    await stream.aclose()
