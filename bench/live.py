"""The live-streams client: N concurrent long streams paced like Google, and how late each event came.

Each of ``--conns`` connections sends the request in ``--request`` (a ``streamGenerateContent``,
chat-completions or messages stream whose prompt holds ``LIVE-STREAM``), reads the whole stream,
checks it and sends the next, until the end. The fast stand-in (``bench/fast_upstream.py``) answers such
a request with paced events whose text is the ``CLOCK_MONOTONIC`` time at which it wrote them
(``~T<ns>~``); this client reads that time in every event it receives and records the delay: the
time between the upstream writing the event and this client reading it (through the gateway or not).
That includes this client's own lateness: the direct row (client -> stand-in) shows that floor.

Connections start spread over ``--ramp`` seconds (users do not all arrive in the same millisecond).
Prints ``START`` after ``--warmup`` seconds, ``END`` after ``--duration`` more, then one JSON line:
streams completed in the window, events received in it, the delays (p50, p99, max, in ms) of those
events, and the failures (connection errors, non-200 answers, streams with a wrong event count or
without their end marker).

Usage: ``python bench/live.py -p PORT -f REQUEST_FILE -c CONNS -n EVENTS -m END_MARKER
[-w WARMUP] [-d DURATION] [--ramp SECONDS]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any, cast

import httptools
import uvloop

STAMP = re.compile(rb"~T(\d{6,20})~")


class Stats:
    def __init__(self, events: int, marker: bytes) -> None:
        self.events = events
        self.marker = marker
        self.measuring = False
        self.delays: list[int] = []  # ns, events received while measuring
        self.completed = 0
        self.errors = 0
        self.non200 = 0
        self.bad = 0
        self.stopping = False


class Conn(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, done: asyncio.Future[None]) -> None:
        self.stats = stats
        self.request = request
        self.done = done
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.tail = b""
        self.count = 0
        self.end_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stats.stopping:
            self.stats.errors += 1
        if not self.done.done():
            self.done.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.stats.errors += 1
            assert self.transport is not None
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        now = time.monotonic_ns()
        buf = self.tail + body
        stats = self.stats
        last_end = 0
        for match in STAMP.finditer(buf):
            self.count += 1
            last_end = match.end()
            if stats.measuring:
                stats.delays.append(now - int(match.group(1)))
        if not self.end_seen:
            self.end_seen = stats.marker in buf
        # keep what may be the start of a stamp or of the end marker cut by this read
        keep = max(len(stats.marker), 24)
        self.tail = buf[max(last_end, len(buf) - keep) :]

    def on_message_complete(self) -> None:
        stats = self.stats
        if self.parser.get_status_code() != 200:
            stats.non200 += 1
        elif self.count != stats.events or not self.end_seen:
            stats.bad += 1
        elif stats.measuring:
            stats.completed += 1
        asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        self._reset()
        if self.stats.stopping or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(self.request)


def pct(values: list[int], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p / 100))] / 1e6


async def main(args: argparse.Namespace) -> None:
    with open(args.f, "rb") as f:
        request = f.read()
    loop = asyncio.get_running_loop()
    stats = Stats(args.n, args.m.encode())
    conns: list[tuple[asyncio.Transport, asyncio.Future[None]]] = []
    started = loop.time()

    async def open_one(i: int) -> None:
        await asyncio.sleep(args.ramp * i / max(1, args.c))
        done: asyncio.Future[None] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                lambda: Conn(stats, request, done), "127.0.0.1", args.p
            )
        except OSError:
            stats.errors += 1
            return
        conns.append((cast(asyncio.Transport, transport), done))

    opening = [asyncio.ensure_future(open_one(i)) for i in range(args.c)]
    await asyncio.sleep(max(0.0, started + args.w - loop.time()))
    stats.measuring = True
    print("START", flush=True)
    t0 = loop.time()
    await asyncio.sleep(args.d)
    stats.measuring = False
    window = loop.time() - t0
    print("END", flush=True)
    stats.stopping = True
    await asyncio.gather(*opening)
    for transport, _ in conns:
        transport.close()
    delays = sorted(stats.delays)
    result: dict[str, Any] = {
        "conns": args.c,
        "open": len(conns),
        "window_s": window,
        "completed": stats.completed,
        "events": len(delays),
        "events_per_s": len(delays) / window if window else 0.0,
        "delay_p50_ms": pct(delays, 50),
        "delay_p99_ms": pct(delays, 99),
        "delay_max_ms": delays[-1] / 1e6 if delays else 0.0,
        "errors": stats.errors,
        "non2xx": stats.non200,
        "bad_body": stats.bad,
    }
    print(json.dumps(result), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("-p", type=int, required=True, help="port on 127.0.0.1")
    p.add_argument("-f", required=True, help="file with the raw HTTP request")
    p.add_argument("-c", type=int, default=100, help="concurrent streams")
    p.add_argument("-n", type=int, default=300, help="events each stream must have")
    p.add_argument("-m", required=True, help="the end marker each stream must hold")
    p.add_argument("-w", type=float, default=8.0, help="warm-up seconds (at least the ramp)")
    p.add_argument("-d", type=float, default=10.0, help="measured seconds")
    p.add_argument("--ramp", type=float, default=2.0, help="seconds over which the connections open")
    return p.parse_args(argv)


if __name__ == "__main__":
    uvloop.run(main(parse_args(sys.argv[1:])))
