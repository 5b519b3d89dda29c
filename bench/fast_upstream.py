"""A minimal, fast stand-in for Google's side: a raw ``asyncio.Protocol`` + ``httptools`` on uvloop.

It answers with bytes recorded from the emulator beforehand (``bench/run.py`` records them), so the
gateway sees the same answers as from the emulator, at a fraction of the CPU: the gateway's own
ceiling becomes visible. It does not validate request bodies; it checks the ``Authorization:
Bearer`` header on everything but the token endpoint.

Routes (matched on the path without the query string):

* ``POST /token`` -> the recorded token grant (with the stand-in's own access token);
* ``GET /oauth2/v2/userinfo`` -> the recorded userinfo;
* ``POST .../v1internal:<method>`` -> the recorded answer for ``loadCodeAssist``,
  ``fetchAvailableModels``, ``generateContent``; ``streamGenerateContent`` -> the recorded SSE
  events, one chunk each, ``chunk_delay`` apart (chunked transfer encoding, like aiohttp);
* anything else -> 404 in Google's error shape.

Live streams (``bench/live.py``): a ``streamGenerateContent`` request whose body holds ``LIVE-STREAM``
is answered with ``live_events`` events ``live_interval`` seconds apart, paced like Google (each on its
own schedule from the request's arrival, without drift); each event's text is the time it was written,
``~T<CLOCK_MONOTONIC ns>~``, so that the client can tell how long the event took to reach it; the
last one says ``finishReason: STOP``.

Usage: ``python bench/fast_upstream.py CONFIG.json`` (prints its base URL once it listens).
CONFIG: ``{"token": str, "chunk_delay": float, "answers": {name: {"status", "content_type",
"body_b64"}}, "events_b64": [str, ...], "live_events": int, "live_interval": float}`` (the last two
optional: 300 and 0.02).
"""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
import time
from typing import Any, cast

import httptools
import orjson
import uvloop

NOT_FOUND = orjson.dumps(
    {"error": {"code": 404, "message": "not served by the fast stand-in", "status": "NOT_FOUND"}}
)
UNAUTH = orjson.dumps(
    {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
    }
)
REASONS = {200: b"OK", 401: b"Unauthorized", 404: b"Not Found"}
LIVE_MARKER = b"LIVE-STREAM"
_LIVE_PART = b'{"content": {"role": "model", "parts": [{"text": "~T%d~ "}]}'
LIVE_EVENT = (
    b'data: {"response": {"candidates": ['
    + _LIVE_PART
    + b'}], "responseId": "live"}, "traceId": "live"}\r\n\r\n'
)
LIVE_LAST = (
    b'data: {"response": {"candidates": [' + _LIVE_PART + b', "finishReason": "STOP"}], "usageMetadata": '
    b'{"promptTokenCount": 10, "candidatesTokenCount": 600, "totalTokenCount": 610}, "responseId": "live"}, '
    b'"traceId": "live"}\r\n\r\n'
)


def live_event(last: bool) -> bytes:
    """One paced event as a chunk, stamped with the time it is written."""
    event = (LIVE_LAST if last else LIVE_EVENT) % time.monotonic_ns()
    return b"%x\r\n%s\r\n" % (len(event), event)


def fixed(status: int, content_type: str, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, REASONS.get(status, b"OK"), content_type.encode(), len(body))
        + body
    )


class Upstream:
    def __init__(self, config: dict[str, Any]) -> None:
        self.bearer = b"Bearer " + config["token"].encode()
        self.chunk_delay = float(config["chunk_delay"])
        self.answers: dict[bytes, bytes] = {}
        for name, answer in config["answers"].items():
            self.answers[name.encode()] = fixed(
                int(answer["status"]), answer["content_type"], base64.b64decode(answer["body_b64"])
            )
        self.events = [base64.b64decode(e) for e in config["events_b64"]]
        self.live_events = int(config.get("live_events", 300))
        self.live_interval = float(config.get("live_interval", 0.02))
        self.stream_head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        self.not_found = fixed(404, "application/json; charset=UTF-8", NOT_FOUND)
        self.unauth = fixed(401, "application/json; charset=UTF-8", UNAUTH)


class Protocol(asyncio.Protocol):
    __slots__ = ("up", "transport", "parser", "url", "auth", "streaming", "timer", "loop", "live")

    transport: asyncio.Transport

    def __init__(self, up: Upstream) -> None:
        self.up = up
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.auth = b""
        self.streaming = False
        self.live = False
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.auth = b""
        self.live = False

    def on_body(self, body: bytes) -> None:
        self.live = self.live or LIVE_MARKER in body

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 13 and name.lower() == b"authorization":
            self.auth = value

    def on_message_complete(self) -> None:
        path = self.url.split(b"?", 1)[0]
        up = self.up
        if path == b"/token":
            self.transport.write(up.answers[b"token"])
            return
        if self.auth != up.bearer:
            self.transport.write(up.unauth)
            return
        if path == b"/oauth2/v2/userinfo":
            self.transport.write(up.answers[b"userinfo"])
            return
        _, sep, method = path.rpartition(b"v1internal:")
        if not sep:
            self.transport.write(up.not_found)
        elif method == b"streamGenerateContent" and self.live:
            self.transport.write(up.stream_head)
            self._live(1, self.loop.time())
        elif method == b"streamGenerateContent":
            self._stream()
        else:
            self.transport.write(up.answers.get(method, up.not_found))

    def _live(self, i: int, start: float) -> None:
        """Event ``i`` (1-based) now, the next at ``start + i * interval``."""
        self.timer = None
        if self.transport.is_closing():
            return
        last = i == self.up.live_events
        self.transport.write(live_event(last) + (b"0\r\n\r\n" if last else b""))
        if not last:
            self.timer = self.loop.call_at(start + i * self.up.live_interval, self._live, i + 1, start)

    def _stream(self) -> None:
        events = self.up.events
        self.transport.write(self.up.stream_head + b"%x\r\n%s\r\n" % (len(events[0]), events[0]))
        self._next(1)

    def _next(self, i: int) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        events = self.up.events
        if i == len(events):
            self.transport.write(b"0\r\n\r\n")
            return
        delay = self.up.chunk_delay
        if delay > 0 and i > 0:
            self.timer = self.loop.call_later(delay, self._send, i)
        else:
            self._send(i)

    def _send(self, i: int) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        event = self.up.events[i]
        self.transport.write(b"%x\r\n%s\r\n" % (len(event), event))
        self._next(i + 1)


async def main(config_path: str) -> None:
    with open(config_path, "rb") as f:
        up = Upstream(orjson.loads(f.read()))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(up), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"http://127.0.0.1:{port}", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
