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
- a request answered before its body was read (413, 503) is not drained: its connection closes.

Built per settings by :func:`protocol_class` and given to uvicorn as its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from antigravity_gateway.settings import Settings

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing an oversized head."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    header_read_timeout = 10.0
    body_read_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._head_size = 0
        self._header_count = 0
        self._head_error = ""
        self._body_done = True
        self._timer: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    # -- timers -----------------------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _await_head(self) -> None:
        """A new request head is due: start its deadline."""
        self._reading_head = True
        self._head_bytes = 0  # bytes received while the head is due (bounds a head sent in pieces)
        self._head_size = 0  # the head's URL and headers as parsed (bounds a head sent at once)
        self._header_count = 0
        self._cancel_timer()
        self._timer = self.loop.call_later(self.header_read_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._reject(408, "Request Timeout", "the request head was not complete in time")
        else:
            self.transport.close()

    def _arm_body_timer(self) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(self.body_read_timeout, self._body_timed_out)

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # the app has not taken what arrived: not the client's silence
            self._arm_body_timer()
            return
        self.logger.info("closing a connection whose request body stalled")
        self.transport.close()

    # -- parsing ----------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._reject(
                431, "Request Header Fields Too Large", f"the request head is over {MAX_HEAD_BYTES} bytes"
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_head:  # a pipelined request: its head is due now
            self._await_head()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        self._check_head_size()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._head_error = f"the request has more than {MAX_HEADERS} header fields"
            raise _HeadTooLarge
        self._head_size += len(name) + len(value) + 4
        self._check_head_size()
        super().on_header(name, value)

    def _check_head_size(self) -> None:
        """Stop parsing a head that is too large although it came in one piece."""
        if self._head_size > MAX_HEAD_BYTES:
            self._head_error = f"the request head is over {MAX_HEAD_BYTES} bytes"
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._body_done = False
        self._arm_body_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        self._body_done = True
        self._cancel_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if not self._body_done:
            # Answered before its body was read (413, 503, ...): the rest of the body is not
            # drained; the connection closes once the answer is out.
            self.transport.close()
        elif not self.pipeline:
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if self._head_error:
            self._reject(431, "Request Header Fields Too Large", self._head_error)
        else:
            super().send_400_response(msg)

    def _reject(self, status: int, phrase: str, message: str) -> None:
        self._cancel_timer()
        self._reading_head = False
        self.logger.info("refused a request head: %s", message)
        body = message.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


def protocol_class(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with this gateway's timeouts."""
    attributes: dict[str, Any] = {
        "header_read_timeout": settings.header_read_timeout,
        "body_read_timeout": settings.body_read_timeout,
    }
    return type("GatewayHttpProtocol", (BoundedHttpToolsProtocol,), attributes)
