"""RelayStreamingResponse: chunks as they come, the keep-alive frame only while the body is quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Message

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
