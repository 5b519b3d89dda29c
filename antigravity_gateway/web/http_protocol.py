"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol with bounds a public server needs.

uvicorn with httptools limits neither request heads (10,000 headers or one 8 MB header are read and
kept) nor the time a client may take to send them, and an idle connection that never sent a byte is
kept forever (``timeout_keep_alive`` starts only after a first answer). This subclass adds, per
connection:

- a head deadline (``header_read_timeout``): a request head must be complete within that time of the
  connection opening or of the previous answer, else the connection is closed (with a 408 when part of
  a head had arrived);
- a body deadline (``body_read_timeout``): silence while a request body arrives closes the connection
  (not counted while uvicorn itself has paused reading because the app has not taken the body yet);
- head limits: :data:`MAX_HEAD_BYTES` and :data:`MAX_HEADERS`; past them a 431 and the connection closes;
- a request answered before its body was read (413, 503) has the rest of its body read and dropped,
  as uvicorn does (closing at once would make the client's system discard the answer), but for at
  most ``body_read_timeout`` in all; then the connection closes.

The deadlines are checked by one ticking timer per connection; a request only stores a time, which
keeps the cost per request to a few attribute writes. Built per settings by :func:`protocol_class`
and given to uvicorn as its ``http`` protocol.

It also puts a :class:`Connection` in each request's scope (:data:`CONNECTION`): relayed streams write
their chunks through it straight to the socket (see :mod:`antigravity_gateway.web.streaming`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from antigravity_gateway.settings import Settings

#: The scope key of the request's :class:`Connection`.
CONNECTION = "agw.connection"

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100

_HEAD, _BODY, _BUSY = 0, 1, 2  # waiting for a request head / reading its body / the app has it all


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing an oversized head."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    header_read_timeout = 10.0
    body_read_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's limit counts open connections and request tasks. A request's task still closing its
        # upstream stream after its answer is complete overlaps the next request on its connection, so at
        # max_connections busy keep-alive connections it refused good requests: the limit here is on
        # connections only (checked in on_headers_complete, where uvicorn checks it).
        self._max_connections: int | None = self.limit_concurrency
        self.limit_concurrency = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._head_error = ""
        self._phase = _HEAD
        self._draining_until = 0.0
        self._deadline = self.loop.time() + self.header_read_timeout
        interval = min(self.header_read_timeout, self.body_read_timeout) / 4
        self._interval = min(1.0, max(0.01, interval))
        self._ticker: asyncio.TimerHandle | None = self.loop.call_later(self._interval, self._tick)
        self._connection: Connection | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        super().connection_lost(exc)
        if self._connection is not None:
            self._connection.lost()

    # -- deadlines --------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._ticker = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._draining_until and now > self._draining_until:
            self.transport.close()
            return
        if self._phase != _BUSY and now > self._deadline:
            if self._phase == _HEAD:
                if self._head_bytes:
                    self._reject(408, "Request Timeout", "the request head was not complete in time")
                else:
                    self.transport.close()
                return
            if not self.flow.read_paused:  # paused: the app has not taken what came, not the client's fault
                self.logger.info("closing a connection whose request body stalled")
                self.transport.close()
                return
            self._deadline = now + self.body_read_timeout
        self._ticker = self.loop.call_later(self._interval, self._tick)

    def _await_head(self) -> None:
        self._phase = _HEAD
        self._head_bytes = 0
        self._deadline = self.loop.time() + self.header_read_timeout

    # -- parsing ----------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._phase == _HEAD:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._phase == _HEAD and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._reject(
                431, "Request Header Fields Too Large", f"the request head is over {MAX_HEAD_BYTES} bytes"
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase == _BUSY:  # a pipelined request: its head is due now
            self._await_head()

    def on_headers_complete(self) -> None:
        if len(self.headers) > MAX_HEADERS:
            self._head_error = f"the request has more than {MAX_HEADERS} header fields"
            raise _HeadTooLarge
        if self._head_bytes > MAX_HEAD_BYTES and _head_size(self.url, self.headers) > MAX_HEAD_BYTES:
            self._head_error = f"the request head is over {MAX_HEAD_BYTES} bytes"
            raise _HeadTooLarge
        self._phase = _BODY
        self._deadline = self.loop.time() + self.body_read_timeout
        limit = self._max_connections
        if limit is not None and len(self.connections) >= limit:
            self.limit_concurrency = 0  # uvicorn answers 503 and closes the connection
        try:
            super().on_headers_complete()
        finally:
            self.limit_concurrency = None
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # the request's own (not an upgrade)
            self._connection = Connection(cycle)
            self.scope[CONNECTION] = self._connection  # type: ignore[literal-required]

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._deadline = self.loop.time() + self.body_read_timeout

    def on_message_complete(self) -> None:
        self._phase = _BUSY
        if self._draining_until:  # the rest of an answered request's body is in: the next head is due
            self._draining_until = 0.0
            self._await_head()
            return
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._phase == _BODY:
            # Answered before its body was read (413, 503, ...): the rest is read and dropped, for a
            # limited time.
            self._draining_until = self.loop.time() + self.body_read_timeout
        elif not self.pipeline:
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if self._head_error:
            self._reject(431, "Request Header Fields Too Large", self._head_error)
        else:
            super().send_400_response(msg)

    def _reject(self, status: int, phrase: str, message: str) -> None:
        self._phase = _BUSY
        self.logger.info("refused a request head: %s", message)
        body = message.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


class Connection:
    """A streamed response's way to the socket, past uvicorn's ``send`` (about 3 µs per chunk less, and
    one write instead of two for the head and the first chunk).

    :meth:`start` sends the response head through the app's ``send`` chain (so every middleware sees the
    status and adds its headers), but the bytes uvicorn makes of it are held and written together with
    the first chunk. :meth:`write` frames a chunk as uvicorn would (chunked transfer encoding) and writes
    it, waiting while the client does not read (uvicorn's flow control). The end of the response still
    goes through ``send``: uvicorn writes the last chunk and ends the request. Only for responses with
    chunked encoding: anything else (a ``HEAD``) keeps using ``send``.
    """

    __slots__ = ("_cycle", "_on_lost")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle
        self._on_lost: Callable[[], None] | None = None

    def on_lost(self, callback: Callable[[], None] | None) -> bool:
        """Have ``callback`` called when the client hangs up before the response is complete (``None``:
        no longer). ``False``: it has already hung up (``callback`` will not be called)."""
        if self._cycle.disconnected:
            return False
        self._on_lost = callback
        return True

    def lost(self) -> None:
        """The connection is gone (called by the protocol)."""
        callback, self._on_lost = self._on_lost, None
        if callback is not None and self._cycle.disconnected:
            callback()

    async def start(self, send: Send, message: Message, first: bytes) -> bool:
        """Send the head (``message``) and ``first``; ``False``: the body must go through ``send``
        (``first`` was not sent), because the response is not chunked."""
        cycle = self._cycle
        transport = cycle.transport
        held = _HeldWrites(transport)
        cycle.transport = held  # type: ignore[assignment]
        try:
            await send(message)
        finally:
            cycle.transport = transport
        if cycle.chunked_encoding is not True:
            if held.data:
                transport.write(held.data)
            return False
        if not cycle.disconnected:
            transport.write(held.data + (b"%x\r\n%b\r\n" % (len(first), first) if first else b""))
        return True

    async def write(self, chunk: bytes) -> None:
        """Write ``chunk`` once the client takes more (:meth:`drain`)."""
        await self.drain()
        self.write_now(chunk)

    def write_now(self, chunk: bytes) -> None:
        """:meth:`write` without waiting: for a caller that watches :attr:`write_paused` itself."""
        cycle = self._cycle
        if not cycle.disconnected and chunk:
            cycle.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))

    @property
    def write_paused(self) -> bool:
        """The client does not keep up: what is written waits in memory (:meth:`drain` waits it out)."""
        return self._cycle.flow.write_paused and not self._cycle.disconnected

    async def drain(self) -> None:
        cycle = self._cycle
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()


class _HeldWrites:
    """Stands in for the transport while uvicorn writes a response head: keeps the bytes."""

    __slots__ = ("_transport", "data")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


def protocol_class(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with this gateway's timeouts."""
    attributes: dict[str, Any] = {
        "header_read_timeout": settings.header_read_timeout,
        "body_read_timeout": settings.body_read_timeout,
    }
    return type("GatewayHttpProtocol", (BoundedHttpToolsProtocol,), attributes)
