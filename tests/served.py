"""A real ``agw serve`` process on a free loopback port, for tests that run the gateway as a user does."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2 as httpx

from tests.conftest import free_port


class Served:
    def __init__(self, base: str, process: subprocess.Popen[str]) -> None:
        self.base, self.process, self._output = base, process, None

    def stop(self) -> str:
        """Stop the gateway (Ctrl-C) and return everything it printed."""
        if self._output is None:
            self.process.send_signal(signal.SIGINT)
            self._output = self.process.communicate(timeout=20)[0]
        return self._output


@contextlib.contextmanager
def serve(env: dict[str, str], *args: str) -> Iterator[Served]:
    """``agw serve`` with ``env`` and ``args`` until the block ends (then stopped with Ctrl-C)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    served = Served(base, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "agw serve did not start in 30 s"
                time.sleep(0.05)
        yield served
    finally:
        served.stop()
