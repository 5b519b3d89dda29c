"""The project's emulator of Google in a process of its own, for the benchmark.

Same application as ``agw emulator`` (``antigravity_gateway.emulator.serve_app``) with the demo
account, but served from the main thread on uvloop (the gateway's loop), with a short request log
(the emulator keeps the last requests for tests; 100,000 by default) and ``chunk_delay`` set.
Prints its base URL on stdout once it listens; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from antigravity_gateway.emulator import Emulator, EmulatorAccount, serve_app

# The demo account `agw emulator` adds (documented in the README).
DEMO_CLIENT_ID = "demo-client.apps.example"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_EMAIL = "demo@example.com"
DEMO_REFRESH_TOKEN = "1//demo-refresh-token"


async def main(port: int, chunk_delay: float) -> None:
    emu = Emulator(max_recorded_requests=256)
    emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    emu.add_account(
        EmulatorAccount(email=DEMO_EMAIL, refresh_token=DEMO_REFRESH_TOKEN, client_id=DEMO_CLIENT_ID)
    )
    emu.chunk_delay = chunk_delay
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve_app(emu, "127.0.0.1", port) as url:
        print(url, flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunk-delay", type=float, default=0.002)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.chunk_delay))
    sys.exit(0)
