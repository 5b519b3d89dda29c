"""Issue 8's report, replayed against a real ``agw serve`` process on a loopback port.

An account is added with ``agw accounts add`` (against the emulator), the gateway is started as a user
starts it, and the report's three requests are sent as written, then the same checks on a gateway bound
to a non-loopback address.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorServer
from tests.conftest import emulator_env, make_account
from tests.served import Served, add_accounts, serve

CHAT = '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"spend the quota"}]}'


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> dict[str, str]:
    emulator.add_account(make_account("alice@example.com"))
    values = {**os.environ, **emulator_env(emulator_server, tmp_path / "home")}
    add_accounts(values, "alice")
    return values


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[Served]:
    with serve(env) as served:
        yield served


def _curl(*args: str) -> tuple[int, str]:
    """The report's curl line when curl is installed, else the same request with httpx."""
    done = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=30
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def _send(method: str, url: str, headers: dict[str, str], body: str | None = None) -> tuple[int, str]:
    import shutil

    if shutil.which("curl"):
        args = [url, "-X", method]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        if body is not None:
            args += ["-d", body]
        return _curl(*args)
    answer = httpx.request(method, url, headers=headers, content=body)
    return answer.status_code, answer.text


def test_the_three_requests_of_the_report_are_refused(served: Served, emulator: Emulator) -> None:
    base = served.base
    assert httpx.get(f"{base}/api/accounts/export").status_code == 200  # a local tool, no Origin: allowed
    emulator.clear_requests()

    status, body = _send("GET", f"{base}/api/accounts/export", {"Host": "rebind.attacker.example:8045"})
    assert status == 403 and "1//" not in body
    status, body = _send(
        "POST",
        f"{base}/api/cooldowns/clear",
        {"Origin": "http://attacker.example", "Content-Type": "text/plain"},
        "{}",
    )
    assert status == 403 and '"ok":true' not in body
    status, body = _send(
        "POST",
        f"{base}/v1/chat/completions",
        {"Origin": "http://attacker.example", "Content-Type": "text/plain"},
        CHAT,
    )
    assert status == 403
    assert emulator.requests == [], "the cross-site generation reached Google"

    # the same generation from a tool (no Origin) is served
    status, body = _send("POST", f"{base}/v1/chat/completions", {"Content-Type": "application/json"}, CHAT)
    assert status == 200 and "chat.completion" in body


def test_a_non_loopback_bind_gets_the_lan_rules(env: dict[str, str]) -> None:
    with serve({**env, "AGW_API_KEY": "sk-lan-key"}, "--host", "0.0.0.0") as served:
        base = served.base
        assert httpx.get(f"{base}/api/accounts/export").status_code == 403  # no admin password: closed
        assert httpx.post(f"{base}/v1/chat/completions", content=CHAT).status_code == 401
        ok = httpx.post(f"{base}/v1/chat/completions", content=CHAT, headers={"x-api-key": "sk-lan-key"})
        assert ok.status_code == 200
        assert httpx.get(f"{base}/healthz", headers={"Host": "192.168.1.20:8045"}).status_code == 200
        output = served.stop()
        assert "AGW_ADMIN_PASSWORD" in output, output  # agw serve says how to open the dashboard
