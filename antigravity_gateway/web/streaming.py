"""A streaming response for relayed streams: chunks go out as they are produced; a client hang-up
stops the body iterator at once (which closes the upstream stream); optionally a keep-alive frame
goes out while the body is quiet."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from antigravity_gateway.web.http_protocol import CONNECTION, Connection
from antigravity_gateway.web.security import BODY_SEND


class Closable(Protocol):
    async def aclose(self) -> None: ...


class RelayStreamingResponse(Response):
    """Starlette's ``StreamingResponse`` for our case (async bytes, asyncio only), without anyio.

    Same behaviour: the body is sent chunk by chunk as it is produced, and when the client hangs up
    the body iterator is interrupted at once (so the upstream stream is closed), also while it is
    waiting for upstream. Starlette does this with an anyio task group per response; with uvicorn's
    ASGI 2.3 that costs about 100 µs of CPU per stream and +10 ms time to first event at 64 streams
    (bench/README.md). Here the request's own task is cancelled when the client hangs up: the server
    says so (:class:`~antigravity_gateway.web.http_protocol.Connection`), or elsewhere a small watcher
    task waits for ``http.disconnect``; that cancellation is absorbed below, any other one propagates.

    ``streams`` (the upstream streams the body reads) are closed when the response ends, also when the
    body iterator never started (closing a generator that never ran skips its ``finally``).

    ``idle`` = ``(seconds, frame)``: after the first chunk, ``frame`` is sent whenever nothing was sent
    for ``seconds`` (Anthropic's ``ping``). One timer per response checks it, so a chunk costs only a
    clock read; the frame is sent between chunks, never inside one, and never after the last.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        streams: Sequence[Closable] = (),
        idle: tuple[float, bytes] | None = None,
    ) -> None:
        self.body_iterator = content
        self.streams = streams
        self.idle = idle
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        finished = False  # set before the last send: a disconnect after it is the normal end
        hung_up = False

        def hang_up() -> None:
            nonlocal hung_up
            if not finished:
                hung_up = True
                task.cancel()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            hang_up()

        # The server says when the client hangs up (``CONNECTION``); elsewhere a task waits for it.
        hook: Connection | None = scope.get(CONNECTION)
        watcher: asyncio.Future[None] | None = None
        if hook is None:
            watcher = asyncio.ensure_future(watch())
        elif not hook.on_lost(hang_up):
            hang_up()  # already gone: the body stops at its first wait
        # The middleware between here and the server only look at the response start (status, CORS
        # headers): the chunks skip them when the outermost one said how (``BODY_SEND``), and go straight
        # to the socket when the server offers that (``CONNECTION``) and no middleware asked to see them.
        body_send: Send | None = scope.get(BODY_SEND)
        connection: Connection | None = scope.get(CONNECTION) if body_send is not None else None
        if body_send is None:
            body_send = send
        write: Write = functools.partial(_send_chunk, body_send)
        keepalive: _KeepAlive | None = None
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            if connection is None:
                await send(start)
            else:
                # The first chunk is in hand at once (the pipeline returns once the first upstream
                # event has arrived): it goes out in one write with the head.
                first = await anext(self.body_iterator, b"")
                if await connection.start(send, start, first):
                    write = connection.write
                elif first:
                    await write(first)
            if self.idle is not None:
                keepalive = _KeepAlive(self.idle, write)
                write = keepalive.send
            async for chunk in self.body_iterator:
                await write(chunk)
            if keepalive is not None:
                await keepalive.stop()
            finished = True
            await body_send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not hung_up:
                raise
            task.uncancel()
        finally:
            finished = True
            if watcher is not None:
                watcher.cancel()
            if hook is not None:
                hook.on_lost(None)
            if keepalive is not None:
                keepalive.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                for stream in self.streams:
                    await stream.aclose()


Write = Callable[[bytes], Awaitable[None]]


async def _send_chunk(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


class _KeepAlive:
    """Sends the body's chunks, and a keep-alive frame when none was sent for a while (see above)."""

    __slots__ = ("_frame", "_handle", "_interval", "_last", "_loop", "_ping", "_send", "_sending")

    def __init__(self, idle: tuple[float, bytes], write: Write) -> None:
        self._interval, self._frame = idle
        self._send = write
        self._loop = asyncio.get_running_loop()
        self._last = 0.0
        self._sending = False
        self._handle: asyncio.TimerHandle | None = None
        self._ping: asyncio.Future[None] | None = None

    async def send(self, chunk: bytes) -> None:
        if self._ping is not None and not self._ping.done():
            await asyncio.shield(self._ping)  # a frame never goes out inside another
        self._sending = True
        try:
            await self._send(chunk)
        finally:
            self._sending = False
        self._last = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(self._last + self._interval, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        due = self._last + self._interval
        if now >= due and not self._sending and (self._ping is None or self._ping.done()):
            self._last = now
            self._ping = asyncio.ensure_future(self._send(self._frame))
            due = now + self._interval
        self._handle = self._loop.call_at(max(due, now + 0.001), self._tick)

    async def stop(self) -> None:
        """Before the last message: no frame after it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._ping is not None and not self._ping.done():
            await self._ping

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._ping is not None and not self._ping.done():
            self._ping.cancel()
