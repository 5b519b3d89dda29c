"""RelayStreamingResponse: chunks as they come, the keep-alive frame only while the body is quiet, and\nstraight to the socket where the server offers it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from antigravity_gateway.web.http_protocol import CONNECTION, Connection
from antigravity_gateway.web.security import BODY_SEND
from antigravity_gateway.web.streaming import RelayStreamingResponse

PING = b"event: ping\ndata: {}\n\n"


class Client:
    """The ASGI side: records what is sent; ``pinged`` is set by the first keep-alive frame."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.pinged = asyncio.Event()
        self.gone = asyncio.Event()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message.get("body") == PING:
            self.pinged.set()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_keepalive_goes_out_only_between_chunks_while_the_body_is_quiet() -> None:
    client = Client()
    resume = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await client.pinged.wait()  # quiet until a keep-alive went out
        await resume.wait()
        yield b"second"

    response = RelayStreamingResponse(body(), media_type="text/event-stream", idle=(0.01, PING))
    run = asyncio.ensure_future(response({"type": "http"}, client.receive, client.send))
    await client.pinged.wait()
    resume.set()
    await run
    bodies = client.bodies()
    assert bodies[0] == b"first"  # never a keep-alive before the first chunk
    assert PING in bodies and bodies.index(b"second") > bodies.index(PING)
    assert bodies[-1] == b"" and client.sent[-1]["more_body"] is False  # nothing after the last
    assert all(m.get("more_body") for m in client.sent[1:-1])


async def test_no_keepalive_while_chunks_keep_coming() -> None:
    client = Client()

    async def body() -> AsyncIterator[bytes]:
        for i in range(50):
            yield b"%d" % i
            await asyncio.sleep(0)

    response = RelayStreamingResponse(body(), media_type="text/event-stream", idle=(30.0, PING))
    await response({"type": "http"}, client.receive, client.send)
    assert client.bodies() == [b"%d" % i for i in range(50)] + [b""]


async def test_a_hang_up_stops_the_body_and_the_keepalive() -> None:
    client = Client()
    closed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await client.pinged.wait()
            client.gone.set()
            await asyncio.Event().wait()  # the upstream never says more
            yield b"never"
        finally:
            closed.set()

    response = RelayStreamingResponse(body(), media_type="text/event-stream", idle=(0.01, PING))
    await response({"type": "http"}, client.receive, client.send)
    assert closed.is_set()
    pings = client.bodies().count(PING)
    await asyncio.sleep(0.05)  # longer than several intervals: a timer left behind would ping again
    assert client.bodies().count(PING) == pings and b"never" not in client.bodies()


# -- straight to the socket (the server's Connection) ----------------------------------------------


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _cycle(method: str = "POST") -> tuple[Any, RecordingTransport, dict[str, Any]]:
    """uvicorn's own request cycle on a transport that records the writes, and its scope as our HTTP
    protocol makes it (with the :class:`Connection`) and our outer middleware marks it (``BODY_SEND``)."""
    transport = RecordingTransport()
    scope: dict[str, Any] = {"type": "http", "method": method, "path": "/", "headers": []}
    cycle = RequestResponseCycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    scope[CONNECTION] = Connection(cycle)
    scope[BODY_SEND] = cycle.send
    return cycle, transport, scope


def _with_header(send: Any) -> Any:
    """A middleware's ``send`` that adds a header to the response start (as CORS or rate headers do)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (b"x-added", b"yes")]}
        await send(message)

    return wrapped


async def test_chunks_go_straight_to_the_socket_the_head_with_the_first() -> None:
    cycle, transport, scope = _cycle()
    second = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await second.wait()
        yield b"second!"

    response = RelayStreamingResponse(body(), media_type="text/event-stream")
    run = asyncio.ensure_future(response(scope, cycle.receive, _with_header(cycle.send)))
    while not transport.writes:
        await asyncio.sleep(0)
    assert len(transport.writes) == 1  # the head and the first chunk in one write
    head, _, chunk = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ntransfer-encoding: chunked" in head and b"\r\nx-added: yes" in head
    assert chunk == b"5\r\nfirst\r\n"
    second.set()
    await run
    assert transport.writes[1:] == [b"7\r\nsecond!\r\n", b"0\r\n\r\n"]
    assert cycle.response_complete


async def test_a_straight_write_waits_while_the_client_does_not_read() -> None:
    cycle, transport, scope = _cycle()
    cycle.flow.pause_writing()  # the client's side is full

    async def body() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    response = RelayStreamingResponse(body(), media_type="text/event-stream")
    run = asyncio.ensure_future(response(scope, cycle.receive, cycle.send))
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.writes == []  # uvicorn's own send waits for the head too
    cycle.flow.resume_writing()
    await run
    assert transport.writes[1:] == [b"1\r\nb\r\n", b"0\r\n\r\n"]


async def test_a_head_request_and_an_empty_body_write_no_chunks() -> None:
    for method, chunks in (("HEAD", [b"ignored"]), ("POST", [])):
        cycle, transport, scope = _cycle(method)

        async def body(chunks: list[bytes] = chunks) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        await RelayStreamingResponse(body(), media_type="text/event-stream")(scope, cycle.receive, cycle.send)
        assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
        if method == "HEAD":
            assert b"ignored" not in b"".join(transport.writes)
        else:
            assert transport.writes[0].endswith(b"\r\n\r\n") and transport.writes[1:] == [b"0\r\n\r\n"]
        assert cycle.response_complete


async def test_without_the_outer_middleware_chunks_take_the_send_chain() -> None:
    cycle, transport, scope = _cycle()
    del scope[BODY_SEND]  # a middleware that must see the body (the request log's capture) removes it
    seen: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            seen.append(message["body"])
        await cycle.send(message)

    async def body() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    await RelayStreamingResponse(body(), media_type="text/event-stream")(scope, cycle.receive, send)
    assert seen == [b"a", b"b", b""]
    assert transport.writes[1:] == [b"1\r\na\r\n", b"1\r\nb\r\n", b"0\r\n\r\n"]


async def test_the_server_says_when_the_client_hangs_up_no_watcher_task() -> None:
    cycle, transport, scope = _cycle()
    closed = asyncio.Event()
    waiting = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            waiting.set()
            await asyncio.Event().wait()  # the upstream never says more
            yield b"never"
        finally:
            closed.set()

    async def no_receive() -> Message:
        raise AssertionError("nothing waits on receive when the server reports the hang-up")

    run = asyncio.ensure_future(
        RelayStreamingResponse(body(), media_type="text/event-stream")(scope, no_receive, cycle.send)
    )
    await waiting.wait()
    assert asyncio.all_tasks() == {asyncio.current_task(), run}  # no watcher task beside it
    cycle.disconnected = True  # what uvicorn's connection_lost does, then our protocol calls lost()
    scope[CONNECTION].lost()
    await run  # ends without an error: a hang-up is a normal end
    assert closed.is_set() and not cycle.response_complete
    assert b"never" not in b"".join(transport.writes)


# -- a pushed EventStream ---------------------------------------------------------------------------


class UpperFramer:
    """A framer for the tests: each event's text, upper-cased, one line each; END or ERR at the end."""

    def __init__(self) -> None:
        self.closed = False

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        return b"".join(event["t"].upper().encode() + b"\n" for event in events)

    def finish(self) -> bytes:
        return b"END\n"

    def error(self, exc: Any) -> bytes:
        return b"ERR " + exc.message.encode() + b"\n"

    def close(self) -> None:
        self.closed = True


class PushedEvents:
    """Stands in for an EventStream whose upstream pushes: the test calls ``on_batch`` and ``on_end``."""

    def __init__(self, first: list[dict[str, Any]]) -> None:
        self.first = first
        self.on_batch: Any = None
        self.on_end: Any = None
        self.pushed = asyncio.Event()
        self.calls: list[str] = []
        self.closed = False

    async def next_batch(self) -> list[dict[str, Any]]:
        first, self.first = self.first, []
        return first

    async def push(self, on_batch: Any, on_end: Any) -> bool:
        self.on_batch, self.on_end = on_batch, on_end
        self.pushed.set()
        return True

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    async def aclose(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write_paused = False
        self.drained = asyncio.Event()
        self.lost: Any = None

    def on_lost(self, callback: Any) -> bool:
        self.lost = callback
        return True

    async def start(self, send: Any, message: Message, first: bytes) -> bool:
        await send(message)
        self.written.append(first)
        return True

    def write_now(self, data: bytes) -> None:
        self.written.append(data)

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def drain(self) -> None:
        await self.drained.wait()
        self.write_paused = False


async def test_pushed_events_are_written_from_the_callbacks_and_a_slow_client_pauses_upstream() -> None:
    from antigravity_gateway.errors import UpstreamUnavailable
    from antigravity_gateway.web.streaming import EventStreamResponse

    events = PushedEvents([{"t": "a"}])
    framer = UpperFramer()
    connection = FakeConnection()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", CONNECTION: connection, BODY_SEND: send}
    response = EventStreamResponse(events, framer, media_type="text/event-stream")  # type: ignore[arg-type]
    run = asyncio.ensure_future(response(scope, Client().receive, send))
    await events.pushed.wait()
    assert sent[0]["type"] == "http.response.start" and connection.written == [b"A\n"]
    events.on_batch([{"t": "b"}, {"t": "c"}])  # written at once, in the callback
    assert connection.written[-1] == b"B\nC\n"
    connection.write_paused = True  # the client stops reading
    events.on_batch([{"t": "d"}])
    assert connection.written[-1] == b"D\n" and events.calls == ["pause"]
    for _ in range(5):
        await asyncio.sleep(0)
    assert events.calls == ["pause"]  # still waiting for the client
    connection.drained.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert events.calls == ["pause", "resume"]
    events.on_end(UpstreamUnavailable("upstream stream broke: gone"))
    await run
    assert connection.written[-1] == b"ERR upstream stream broke: gone\n"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert framer.closed and events.closed


async def test_a_pushed_stream_ends_when_the_client_hangs_up() -> None:
    from antigravity_gateway.web.streaming import EventStreamResponse

    events = PushedEvents([{"t": "a"}])
    connection = FakeConnection()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", CONNECTION: connection, BODY_SEND: send}
    framer = UpperFramer()
    run = asyncio.ensure_future(
        EventStreamResponse(events, framer, media_type="text/event-stream")(scope, Client().receive, send)  # type: ignore[arg-type]
    )
    await events.pushed.wait()
    connection.lost()  # what the protocol calls when the connection is gone
    await run  # a hang-up is a normal end: no error, no last frames
    assert connection.written == [b"A\n"] and framer.closed and events.closed
    assert sent[-1]["type"] == "http.response.start"


async def test_a_stream_that_cannot_be_pushed_is_pulled_with_the_same_frames() -> None:
    from antigravity_gateway.errors import UpstreamUnavailable
    from antigravity_gateway.web.streaming import EventStreamResponse

    class Unpushable(PushedEvents):
        def __init__(self) -> None:
            super().__init__([{"t": "a"}])
            self.rest: list[Any] = [[{"t": "b"}], UpstreamUnavailable("upstream stream broke: gone")]

        async def next_batch(self) -> list[dict[str, Any]]:
            if self.first:
                return await super().next_batch()
            item = self.rest.pop(0)
            if isinstance(item, Exception):
                raise item
            return item  # type: ignore[no-any-return]

        async def push(self, on_batch: Any, on_end: Any) -> bool:
            return False  # another aiohttp

    events = Unpushable()
    connection = FakeConnection()

    async def send(message: Message) -> None:
        pass

    scope = {"type": "http", CONNECTION: connection, BODY_SEND: send}
    framer = UpperFramer()
    await EventStreamResponse(events, framer, media_type="text/event-stream")(scope, Client().receive, send)  # type: ignore[arg-type]
    assert connection.written == [b"A\n", b"B\n", b"ERR upstream stream broke: gone\n"]
    assert framer.closed and events.closed
