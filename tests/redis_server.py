"""Real ``redis-server`` processes for the tests: on a free loopback port, without persistence, in a temp
directory. Start waits until the server answers PING (never a sleep); ``stop`` then ``start`` brings the
same instance back on the same port, empty (an outage, or a Redis restarted without persistence)."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import pytest

START_TIMEOUT = 20.0


def redis_server_path() -> str:
    """The ``redis-server`` binary, or a skip (``scripts/install-test-deps`` installs Debian's)."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if path is None:
        pytest.skip("redis-server is not installed (scripts/install-test-deps installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server``; ``url`` stays the same across :meth:`stop` and :meth:`start`."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"
        self._drainer: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = redis_server_path()
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Read the server's output until it says it is ready, then check that it answers PING."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        output = b""
        with self.log.open("ab") as log:
            while b"Ready to accept connections" not in output:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start: {output[-500:]!r}")
                ready, _, _ = select.select([self.proc.stdout], [], [], left)
                if ready:
                    chunk = self.proc.stdout.read1(4096)  # type: ignore[attr-defined]
                    if not chunk:
                        self.proc.wait(5)
                        raise RuntimeError(
                            f"redis-server on port {self.port} exited ({self.proc.returncode}): {output[-500:]!r}"
                        )
                    output += chunk
                    log.write(chunk)
        self._drainer = threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True)
        self._drainer.start()
        if not ping(self.port):
            raise RuntimeError(f"redis-server on port {self.port} said it was ready but does not answer PING")

    def _drain(self, stream: IO[bytes]) -> None:
        """Copy the server's further output to its log (a full pipe would block the server)."""
        with self.log.open("ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._drainer is not None:
            self._drainer.join(5)
            self._drainer = None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *args: str) -> bytes:
        """One command (inline protocol, simple arguments), its raw reply: for checks from the tests."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(" ".join(args).encode() + b"\r\n")
            return sock.recv(65536)
