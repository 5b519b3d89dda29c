"""Memory per large body: a gateway process (a real subprocess, so only its own memory is counted)
grows by at most 4x a large body's size while it serves it, and runs at most ``max_large_bodies`` such
bodies at once (the next one gets a 503 with Retry-After in the client's protocol)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorServer
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ENDPOINTS, add_accounts, make_account, make_settings

SIZE = 16 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Process:
    url: str
    pid: int

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def gateway_process(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> Iterator[Process]:
    emulator.add_account(make_account("alice@example.com"))
    settings = make_settings(tmp_path / "home", emulator_server)
    asyncio.run(add_accounts(settings, ["1//alice"]))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGW_HOME": str(settings.home),
        "AGW_AUTH_MODE": "off",
        "AGW_UPSTREAM_ENDPOINTS": ",".join(emulator_server.endpoint(name) for name in ENDPOINTS),
        "AGW_OAUTH_TOKEN_URL": emulator_server.token_url,
        "AGW_OAUTH_USERINFO_URL": emulator_server.userinfo_url,
        "AGW_OAUTH_CLIENT_ID": CLIENT_ID,
        "AGW_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "AGW_LOG_LEVEL": "WARNING",
        "AGW_MAX_LARGE_BODIES": "1",
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start: {log.read_text()}")
            time.sleep(0.05)
        yield Process(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def _image(size: int) -> str:
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


def gemini_body(size: int) -> bytes:
    part = {"inlineData": {"mimeType": "image/png", "data": _image(size)}}
    return orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "What is on it?"}, part]}]})


def openai_body(size: int) -> bytes:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _image(size)}}
    content: list[Any] = [{"type": "text", "text": "What is on it?"}, image]
    return orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]})


def anthropic_body(size: int) -> bytes:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _image(size)}}
    content: list[Any] = [{"type": "text", "text": "What is on it?"}, image]
    return orjson.dumps(
        {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": content}]}
    )


CASES = {
    "gemini": ("/v1beta/models/gemini-2.5-flash:generateContent", gemini_body),
    "openai": ("/v1/chat/completions", openai_body),
    "anthropic": ("/v1/messages", anthropic_body),
}


@pytest.mark.parametrize("case", list(CASES))
def test_peak_memory_growth_is_at_most_4x_the_body(gateway_process: Process, case: str) -> None:
    path, make = CASES[case]
    http = httpx.Client(base_url=gateway_process.url, timeout=60)
    try:
        small = make(64 * 1024)
        for _ in range(3):  # warm up: imports, caches, connection pools
            assert (
                http.post(path, content=small, headers={"content-type": "application/json"}).status_code
                == 200
            )
        body = make(SIZE)
        before = gateway_process.status("VmRSS")
        gateway_process.reset_peak()
        answer = http.post(path, content=body, headers={"content-type": "application/json"})
        peak = gateway_process.status("VmHWM")
    finally:
        http.close()
    assert answer.status_code == 200, answer.text[:500]
    growth = (peak - before) / len(body)
    print(f"{case}: {len(body)} bytes, peak growth {peak - before} bytes = {growth:.2f}x")
    assert growth <= 4.0
