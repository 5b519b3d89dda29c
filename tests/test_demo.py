"""`agw demo`, the README's first command: a working gateway on the bundled emulator, no account needed."""

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


def test_demo_serves_every_api_offline(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "HOME": str(tmp_path), "AGW_HOME": str(tmp_path / "should-not-be-used")}
    process = subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the demo exited early"
            assert time.monotonic() < deadline, "the demo did not start in 30 s"
            time.sleep(0.1)
        gemini = httpx.post(
            f"{base}/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"parts": [{"text": "Hello demo"}]}]},
        ).json()
        assert "demo@example.com: Hello demo" in gemini["candidates"][0]["content"]["parts"][0]["text"]
        openai = httpx.post(
            f"{base}/v1/chat/completions",
            json={
                "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": "Hello from OpenAI"}],
            },
        ).json()
        assert "Hello from OpenAI" in openai["choices"][0]["message"]["content"]
        anthropic = httpx.post(
            f"{base}/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={
                "model": "claude-sonnet-4-6",
                "max_tokens": 256,
                "messages": [{"role": "user", "content": "Hello from Anthropic"}],
            },
        ).json()
        assert "Hello from Anthropic" in anthropic["content"][-1]["text"]
        assert httpx.get(f"{base}/ui/").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "DEMO MODE" in output and "a stand-in, not Google" in output
    assert f"curl -s {base}/healthz" in output
    assert not (tmp_path / "should-not-be-used").exists(), "the demo must not touch the real AGW_HOME"
