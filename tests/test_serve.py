"""``agw serve`` as a user starts it: a subprocess of ``python -m antigravity_gateway``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_without_accounts_warns_and_is_not_ready(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(port)],
        env={**env, "AGW_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, "the gateway exited early"
                assert time.monotonic() < deadline, "the gateway did not start in 30 s"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["ready"] is False
        assert httpx.get(f"{base}/readyz").status_code == 503
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "warning: no usable account yet" in output and "agw accounts login" in output
    assert "uvicorn.error" not in output and "INFO    uvicorn: Application startup complete." in output
