"""``agw serve`` as a user starts it: a subprocess of ``python -m antigravity_gateway``."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from tests.conftest import free_port


def test_serve_without_accounts_warns_and_is_not_ready(tmp_path: Path) -> None:
    port = free_port()
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


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one process", "two workers"])
def test_a_port_taken_after_the_check_still_ends_in_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """The check before the banner passes; the port is taken when uvicorn (or the workers' parent) binds."""
    from antigravity_gateway.cli import run

    checks = iter([None])
    real = run.port_problem
    monkeypatch.setattr(run, "port_problem", lambda host, port: next(checks, real(host, port)))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setenv("AGW_HOME", str(tmp_path / "home"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        threshold = gc.get_threshold()
        try:
            result = CliRunner().invoke(main, ["serve", "--port", str(port), *workers])
        finally:  # serve() tunes the collector for a long-running process: undo it for the test run
            gc.unfreeze()
            gc.set_threshold(*threshold)
    assert result.exit_code == 1, result.output
    line = f"error: port {port} is in use (by another Antigravity Gateway?): use --port or AGW_PORT\n"
    assert result.stderr.endswith(line)  # after uvicorn's own log lines when one process binds
    if workers:
        assert result.stderr == line  # the parent binds before anything starts
        assert "2 workers" in result.stdout
