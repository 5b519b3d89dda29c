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

from tests.conftest import free_port


def test_demo_serves_every_api_offline(tmp_path: Path) -> None:
    port = free_port()
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


# -- what the demo honours, and what it leaves behind ---------------------------------------------


class Demo:
    """``agw demo`` in a subprocess, with its throw-away home created under ``tmp`` (TMPDIR)."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        tmp.mkdir(exist_ok=True)
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
        self.env = {**clean_env, "HOME": str(tmp), "TMPDIR": str(tmp), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "antigravity_gateway", "demo", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, base: str, headers: dict[str, str] | None = None) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", headers=headers).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "the demo exited early: " + self.stop()
            assert time.monotonic() < deadline, "the demo did not start in 30 s"
            time.sleep(0.1)

    def home(self) -> Path:
        (home,) = self.tmp.glob("agw-demo-*")
        return home

    def stop(self, sig: signal.Signals = signal.SIGINT) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        output, _ = self.process.communicate(timeout=20)
        return output


def test_demo_honours_the_key_the_auth_mode_and_agw_port(tmp_path: Path) -> None:
    port = free_port()
    key = "sk-demo-secret-4242"
    demo = Demo(
        tmp_path / "tmp",
        env={"AGW_API_KEY": key, "AGW_AUTH_MODE": "strict", "AGW_PORT": str(port)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        demo.wait_ready(base, headers={"x-goog-api-key": key})
        body = {"contents": [{"parts": [{"text": "Hello"}]}]}
        url = f"{base}/v1beta/models/gemini-2.5-flash:generateContent"
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json=body, headers={"x-goog-api-key": "wrong"}).status_code == 401
        assert httpx.post(url, json=body, headers={"x-goog-api-key": key}).status_code == 200
        # the client key is not the admin password: without AGW_ADMIN_PASSWORD the dashboard is open to
        # this machine (and only to it: Host and Origin checks), and the banner says so
        assert httpx.get(f"{base}/api/accounts").status_code == 200
    finally:
        output = demo.stop()
    assert not list((tmp_path / "tmp").glob("agw-demo-*")), "Ctrl-C removes the demo's home"
    assert "Authentication: on (strict)" in output and "Authentication: off" not in output
    assert '-H "x-goog-api-key: $AGW_API_KEY"' in output
    assert "dashboard is open to this machine (set AGW_ADMIN_PASSWORD" in output
    assert key not in output, "the key must not be printed"


def test_demo_admin_password_protects_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    demo = Demo(tmp_path / "tmp", "--port", str(port), env={"AGW_ADMIN_PASSWORD": "pw-1234"})
    base = f"http://127.0.0.1:{port}"
    try:
        demo.wait_ready(base)
        assert httpx.get(f"{base}/api/accounts").status_code == 401
        assert (
            httpx.get(f"{base}/api/accounts", headers={"Authorization": "Bearer pw-1234"}).status_code == 200
        )
    finally:
        output = demo.stop()
    assert "Authentication: off" in output and "/ui) password: your AGW_ADMIN_PASSWORD" in output


def test_demo_removes_its_home_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    demo = Demo(tmp_path / "tmp", "--port", str(port))
    demo.wait_ready(f"http://127.0.0.1:{port}")
    home = demo.home()
    assert (home / "gateway.db").exists()
    output = demo.stop(signal.SIGTERM)
    assert demo.process.returncode == 0, output
    assert not home.exists() and f"removed {home}" in output


def test_demo_keep_leaves_a_home_every_command_can_use(tmp_path: Path) -> None:
    port = free_port()
    demo = Demo(tmp_path / "tmp", "--port", str(port), "--keep")
    try:
        demo.wait_ready(f"http://127.0.0.1:{port}")
        home = demo.home()
        # With only AGW_HOME set, a CLI command talks to the demo's emulator, not to Google.
        quota = _agw(demo.env, home, "accounts", "quota")
        assert quota.returncode == 0, quota.stderr
        assert "demo@example.com" in quota.stdout and "gemini-2.5-flash" in quota.stdout
        assert "WARNING" not in quota.stderr
    finally:
        output = demo.stop()
    assert home.exists() and "kept in" in output and f"export AGW_HOME={home}" in output
    # The emulator is gone with the demo: the command fails, says so once, and exits non-zero.
    quota = _agw(demo.env, home, "accounts", "quota")
    assert quota.returncode == 1
    assert "could not fetch its quota" in quota.stdout and "could not be fetched" in quota.stderr
    assert "trying the next endpoint" not in quota.stdout + quota.stderr


def _agw(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", *args],
        env={**env, "AGW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_demo_or_gateway_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
        env |= {"HOME": str(tmp_path), "TMPDIR": str(tmp_path), "AGW_HOME": str(tmp_path / "home")}
        for args in (["demo", "--port", str(port)], ["serve"]):
            run_env = {**env, "AGW_PORT": str(port)} if args == ["serve"] else env
            result = subprocess.run(
                [sys.executable, "-m", "antigravity_gateway", *args],
                env=run_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert result.stdout == "", "nothing is printed before the check"
            assert result.stderr.strip() == (
                f"error: port {port} is in use (by another Antigravity Gateway?): use --port or AGW_PORT"
            )
    assert not list(tmp_path.glob("agw-demo-*")), "the demo removes its home also when it cannot start"
