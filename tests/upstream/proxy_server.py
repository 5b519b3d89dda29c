"""Real proxies on loopback for the tests: pproxy (PyPI) as an HTTP or a SOCKS5 proxy, in a process.

Two witnesses that traffic went through a proxy, both the proxy's own:

- its log (``-v``): one line ``http|socks5 <client> -> <host>:<port>`` per connection it opened;
- its sockets (psutil): the local ports of its open connections to a host, which are the peer ports
  the emulator records (``RecordedRequest.peer_port``) for requests that came through it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

pytest.importorskip("pproxy", reason="pproxy is not installed (pip install -e '.[test]')")
psutil = pytest.importorskip("psutil", reason="psutil is not installed (pip install -e '.[test]')")

#: pproxy's own ``main`` installs uvloop's policy and then asks for a loop the new uvloop does not
#: make; run it on the standard loop instead.
_MAIN = (
    "import asyncio, sys; sys.modules['uvloop'] = None; asyncio.set_event_loop(asyncio.new_event_loop()); "
    "sys.argv[0] = 'pproxy'; from pproxy.server import main; main()"
)


class ProxyServer:
    """``kind`` is ``http`` or ``socks5``; ``auth`` is ``user:password`` (checked on every connection)."""

    def __init__(self, directory: Path, kind: str, auth: str = "", port: int | None = None) -> None:
        self.kind = kind
        self.auth = auth
        self.port = port or free_port()
        self.log = directory / f"pproxy-{kind}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, scheme: str | None = None, auth: str | None = None) -> str:
        """The proxy's URL for the gateway (``auth`` overrides the right credentials)."""
        creds = self.auth if auth is None else auth
        return f"{scheme or self.kind}://{creds + '@' if creds else ''}127.0.0.1:{self.port}"

    def start(self) -> ProxyServer:
        served = self.text().count("Serving on")  # the same port again: the same log
        listen = f"{self.kind}://127.0.0.1:{self.port}" + (f"#{self.auth}" if self.auth else "")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-c", _MAIN, "-l", listen, "-v", "--auth", "0"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while self.text().count("Serving on") == served:
            try:
                self.process.wait(0.02)  # readiness: its "Serving on" line, or its exit
            except subprocess.TimeoutExpired:
                pass
            else:
                raise RuntimeError(f"pproxy exited: {self.text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pproxy did not start: {self.text()}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def connections_to(self, port: int) -> int:
        """How many connections the proxy opened to ``127.0.0.1:port`` (its log)."""
        return sum(1 for line in self.text().splitlines() if line.endswith(f"-> 127.0.0.1:{port}"))

    def ports_to(self, port: int) -> set[int]:
        """The local ports of the proxy's open connections to ``port`` (its sockets)."""
        assert self.process is not None
        return {
            c.laddr.port
            for c in psutil.Process(self.process.pid).net_connections("tcp")
            if c.raddr and c.raddr.port == port
        }


#: The password of the test proxies: no answer, log or view of the gateway may contain it.
PASSWORD = "s3cret-proxy-pw"

ProxyFactory = Callable[..., ProxyServer]


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[ProxyFactory]:
    """Start real proxies: ``proxy_factory("http" | "socks5", auth="user:pw", port=None)``."""
    started: list[ProxyServer] = []

    def start(kind: str, auth: str = f"agw:{PASSWORD}", port: int | None = None) -> ProxyServer:
        proxy = ProxyServer(tmp_path, kind, auth, port).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
