"""A streaming response for relayed streams: chunks go out as they are produced; a client hang-up
stops the body iterator at once (which closes the upstream stream); optionally a keep-alive frame
goes out while the body is quiet."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from antigravity_gateway.core.pipeline import EventStream
from antigravity_gateway.errors import GatewayError
from antigravity_gateway.web.http_protocol import CONNECTION, Connection
from antigravity_gateway.web.security import BODY_SEND

logger = logging.getLogger(__name__)


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
        hang_up = _HangUp()

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
            hang_up.finished = True
            await body_send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not hang_up.absorb():
                raise
        finally:
            hang_up.finished = True
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


class _HangUp:
    """Called when the client hangs up: cancels the response's task, unless the response is
    ``finished`` (set before its last message: a hang-up after it is the normal end). In the task,
    :meth:`absorb` then takes that cancellation back (``False``: the cancellation was another one)."""

    __slots__ = ("_task", "finished", "hung_up")

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self.finished = False
        self.hung_up = False

    def __call__(self) -> None:
        if not self.finished:
            self.hung_up = True
            self._task.cancel()

    def absorb(self) -> bool:
        if not self.hung_up:
            return False
        self._task.uncancel()
        return True


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


# -- relaying an EventStream: pulled, or pushed from the upstream's callbacks ----------------------


class Framer(Protocol):
    """How one API frames a stream's events: a stateful translator, pure apart from its own state. The
    first frames (an API's opening events) go out with the first batch."""

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        """The frames of the events of one upstream read (``b""``: none)."""

    def finish(self) -> bytes:
        """The last frames of a stream that ended normally. Raises a :class:`GatewayError` when the end
        is not a normal one after all (then :meth:`error` frames it)."""

    def error(self, exc: GatewayError) -> bytes:
        """The last frames of a stream an error ended."""

    def close(self) -> None:
        """Called once the response is over, however it ended."""


def _internal(exc: Exception) -> GatewayError:
    logger.exception("stream failed in the gateway")
    return GatewayError(f"internal error in the gateway ({exc.__class__.__name__}); see the gateway log")


def _ending(framer: Framer, error: GatewayError | None) -> bytes:
    """The last frames: :meth:`Framer.finish`, or :meth:`Framer.error` for an error (logged)."""
    if error is None:
        try:
            return framer.finish()
        except GatewayError as exc:
            error = exc
        except Exception as exc:
            error = _internal(exc)
    logger.warning("stream ended by an upstream error: %s", error.message)
    return framer.error(error)


async def framed(events: EventStream, framer: Framer) -> AsyncIterator[bytes]:
    """The framed stream, pulled batch by batch (the events of one upstream read go out together);
    the framer and the stream are closed at the end."""
    try:
        async for frames in _pulled(events, framer):
            yield frames
    finally:
        framer.close()
        await events.aclose()


async def _pulled(
    events: EventStream, framer: Framer, error: GatewayError | None = None
) -> AsyncIterator[bytes]:
    """The frames of the rest of ``events`` and the last ones; with ``error``, only the last ones."""
    try:
        while error is None and (batch := await events.next_batch()):
            if frames := framer.batch(batch):
                yield frames
    except GatewayError as exc:
        error = exc
    except Exception as exc:
        error = _internal(exc)
    if tail := _ending(framer, error):
        yield tail


class EventStreamResponse(RelayStreamingResponse):
    """A relayed :class:`EventStream`, framed by ``framer``.

    Where the server offers it (:class:`~antigravity_gateway.web.http_protocol.Connection`, and no
    middleware wants to see the body), the events after the first are pushed: each upstream read is
    decoded, framed and written to the client from the callback that received it, and the request's
    task only waits for the end (or for a slow client to drain: meanwhile the upstream is not read).
    Elsewhere it is :class:`RelayStreamingResponse` over :func:`framed`. Same bytes either way."""

    def __init__(
        self,
        events: EventStream,
        framer: Framer,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        idle: tuple[float, bytes] | None = None,
    ) -> None:
        super().__init__(
            framed(events, framer), headers=headers, media_type=media_type, streams=[events], idle=idle
        )
        self.events = events
        self.framer = framer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection: Connection | None = scope.get(CONNECTION) if scope.get(BODY_SEND) is not None else None
        if connection is None:
            await super().__call__(scope, receive, send)
            return
        await _Push(self, connection, scope, send).run()


class _Push:
    """One pushed relay (see :class:`EventStreamResponse`)."""

    def __init__(
        self, response: EventStreamResponse, connection: Connection, scope: Scope, send: Send
    ) -> None:
        self.response = response
        self.events = response.events
        self.framer = response.framer
        self.connection = connection
        self.send = send
        self.body_send: Send = scope[BODY_SEND]
        self.loop = asyncio.get_running_loop()
        self.wake: asyncio.Future[None] = self.loop.create_future()
        self.ended = False
        self.error: GatewayError | None = None
        self.paused = False
        self.failed: GatewayError | None = None  # the framer failed in a callback
        self.last = 0.0
        self.ping: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        hang_up = _HangUp()
        connection, events, framer = self.connection, self.events, self.framer
        if not connection.on_lost(hang_up):
            hang_up()
        response = self.response
        try:
            first = await events.next_batch()
            head = self._frames(first) if first else b""
            start = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
            if not await connection.start(self.send, start, head):  # not chunked (a HEAD): nothing to push
                await self._pull(head)
            elif self.failed is None and await events.push(self._batch, self._end):
                self._keep_alive()
                while not self.ended:
                    await self.wake
                    self.wake = self.loop.create_future()
                    if self.paused and not self.ended:
                        await connection.drain()
                        self.paused = False
                        events.resume()
                self._stop_keep_alive()
                self._write(_ending(framer, self.failed or self.error))
            else:
                await self._pull_rest()
            hang_up.finished = True
            await self.body_send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not hang_up.absorb():
                raise
        finally:
            hang_up.finished = True
            connection.on_lost(None)
            self._stop_keep_alive()
            try:
                framer.close()
            finally:
                await events.aclose()

    # -- from the upstream's callbacks (never raise) ----------------------------------------------

    def _frames(self, batch: list[dict[str, Any]]) -> bytes:
        try:
            return self.framer.batch(batch)
        except Exception as exc:
            if self.failed is None:
                self.failed = exc if isinstance(exc, GatewayError) else _internal(exc)
            return b""

    def _batch(self, batch: list[dict[str, Any]]) -> None:
        if self.ended or self.failed is not None:
            return
        if frames := self._frames(batch):
            self._write(frames)
        if self.failed is not None:
            self._end(None)  # the framer failed: the stream ends with its error
        elif self.connection.write_paused and not self.paused:
            self.paused = True  # the client is not reading: stop reading upstream until it drains
            self.events.pause()
            self._wake()

    def _end(self, error: GatewayError | None) -> None:
        if self.ended:
            return
        self.ended = True
        self.error = error
        self._wake()

    def _wake(self) -> None:
        if not self.wake.done():
            self.wake.set_result(None)

    def _write(self, data: bytes) -> None:
        if data:
            self.connection.write_now(data)
            self.last = self.loop.time()

    # -- keep-alive frames (Anthropic's ping) -------------------------------------------------------

    def _keep_alive(self) -> None:
        if self.response.idle is not None:
            self.last = self.loop.time()
            self.ping = self.loop.call_at(self.last + self.response.idle[0], self._tick)

    def _tick(self) -> None:
        assert self.response.idle is not None
        interval, frame = self.response.idle
        now = self.loop.time()
        if self.ended:
            self.ping = None
            return
        if now >= self.last + interval and not self.paused:
            self._write(frame)
        self.ping = self.loop.call_at(max(self.last + interval, now + 0.001), self._tick)

    def _stop_keep_alive(self) -> None:
        if self.ping is not None:
            self.ping.cancel()
            self.ping = None

    # -- without pushing ------------------------------------------------------------------------

    async def _pull(self, head: bytes) -> None:
        """The response is not chunked: every frame through ``send``."""
        write = functools.partial(_send_chunk, self.body_send)
        if head:
            await write(head)
        await self._pull_rest(write)

    async def _pull_rest(self, write: Write | None = None) -> None:
        write = write or self.connection.write
        async for frames in _pulled(self.events, self.framer, self.failed):
            await write(frames)
