"""Incremental Server-Sent Events decoding and encoding, shared by every protocol.

The decoder takes bytes as they arrive (any split, any size: no line-length limit) and yields the
``data`` payload of each complete event. It follows the parsing rules Google's own clients use:
``data:`` lines are joined with ``\\n``, a blank line ends an event, other fields and comments are
ignored, and ``\\r\\n``, ``\\n`` or ``\\r`` end lines.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEDecoder:
    """Feed bytes, get complete event payloads (``bytes``) back."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk
        events: list[bytes] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            end, next_start = match.span()
            # A lone \r at the very end may be the first half of \r\n: wait for more bytes.
            if match.group() == b"\r" and next_start == len(buffer):
                break
            self._line(buffer[start:end], events)
            start = next_start
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[bytes]:
        """Call at end of stream: a last event not followed by a blank line is still delivered."""
        events: list[bytes] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        if self._data:
            events.append(b"\n".join(self._data))
            self._data = []
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line:
            if self._data:
                events.append(b"\n".join(self._data))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value)


def encode_data(payload: bytes) -> bytes:
    """One ``data:`` event exactly as Google frames it."""
    return b"data: " + payload + b"\r\n\r\n"


def encode_event(event: str, payload: bytes) -> bytes:
    """A named event (Anthropic-style streams need the ``event:`` line)."""
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
