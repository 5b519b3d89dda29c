"""User keys across processes and hosts, with real ``agw serve`` processes: two on one AGW_HOME (SQLite),
one with ``--workers 2``, and two hosts with their own AGW_HOME on one ``redis-server``. A key made by the CLI of a third process
works on both within a second; 50 parallel requests split over both against ``--rpm 10`` admit exactly
10; a stream held on one takes the only ``--concurrency 1`` slot on the other; a revocation made on one
reaches the other; the daily totals count every host's requests."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from tests.conftest import emulator_env, make_account
from tests.served import agw, serve

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hello from the team"}]}]}

Env = Callable[[int], dict[str, str]]


def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


@pytest.fixture(params=["one-home", "redis"])
def pool(
    request: pytest.FixtureRequest, tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> Env:
    """The environment of process ``n``: the same AGW_HOME for all, or its own home on a shared Redis."""
    emulator.add_account(make_account("alice@example.com"))
    if request.param == "one-home":

        def env(n: int) -> dict[str, str]:
            return {**os.environ, **emulator_env(emulator_server, tmp_path / "home")}

    else:
        url = request.getfixturevalue("redis_url")

        def env(n: int) -> dict[str, str]:
            return {
                **os.environ,
                **emulator_env(emulator_server, tmp_path / f"host{n}"),
                "AGW_REDIS_URL": url,
            }

    added = agw(env(0), "accounts", "add", "--refresh-token", "1//alice")
    assert added.returncode == 0, added.stdout + added.stderr
    return env


def _post(base: str, secret: str | None, path: str = FLASH) -> httpx.Response:
    headers = {"x-goog-api-key": secret} if secret else {}
    return httpx.post(base + path, json=BODY, headers=headers, timeout=30)


def _generate_calls(emulator: Emulator) -> int:
    return sum(r.method in ("generateContent", "streamGenerateContent") for r in emulator.requests)


def test_limits_hold_across_processes_and_hosts(pool: Env, emulator: Emulator) -> None:
    with serve(pool(0)) as first, serve(pool(1)) as second:
        bases = [first.base, second.base]
        made = agw(pool(2), "keys", "add", "team", "--rpm", "10", "--json")
        assert made.returncode == 0, made.stdout + made.stderr
        secret = json.loads(made.stdout)["secret"]
        for base in bases:  # the key exists now: no key, no answer, on both
            _until(lambda b=base: _post(b, None).status_code == 401, "the key table reaches " + base)
        emulator.clear_requests()

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(bases[i % 2] + FLASH, json=BODY, headers={"x-goog-api-key": secret})
                        for i in range(50)
                    )
                )
            return [a.status_code for a in answers]

        statuses = asyncio.run(burst())
        assert statuses.count(200) == 10 and statuses.count(429) == 40, statuses
        assert _generate_calls(emulator) == 10

        # One slot for the whole pool: a stream held on the first takes it from the second.
        assert agw(pool(2), "keys", "edit", "team", "--rpm", "0", "--concurrency", "1").returncode == 0
        for base in bases:
            _until(
                lambda b=base: "x-ratelimit-limit-requests" not in _post(b, secret).headers,
                "the edit reaches " + base,
            )
        emulator.add_fault(Fault(method="streamGenerateContent", stall_after_events=1, times=1))
        with httpx.Client(timeout=30) as client:
            with client.stream(
                "POST", first.base + STREAM, json=BODY, headers={"x-goog-api-key": secret}
            ) as held:
                assert held.status_code == 200
                lines = held.iter_lines()  # kept: a dropped iterator would close the stream
                assert next(line for line in lines if line.startswith("data: "))
                refused = _post(second.base, secret)
                assert refused.status_code == 429 and "1 requests in progress" in refused.text
        # The stream's client hung up: the first process releases the slot for everyone.
        _until(lambda: _post(second.base, secret).status_code == 200, "the slot is free again")

        # A revocation made on the second reaches the first.
        assert httpx.post(f"{second.base}/api/keys/team/revoke", json={}, timeout=10).status_code == 200
        _until(lambda: "was revoked" in _post(first.base, secret).text, "the revocation reaches the first")

    usage = json.loads(agw(pool(2), "keys", "usage", "team", "--json").stdout)
    (today,) = usage
    counted: Any = today["requests"]
    assert counted >= 13 and today["refused"] >= 41  # both hosts' requests, in one daily total


def test_redis_down_refuses_user_keys_with_503_and_they_work_again_after(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, redis_factory: Callable[[], Any]
) -> None:
    """Without the shared counters a user key's limits cannot hold: its requests are a clear 503 in the
    caller's shape (never sent to Google) while the operator's key is served from memory; when Redis is
    back (empty: no persistence here) the keys are seeded from the local copy and work again."""
    server = redis_factory()
    emulator.add_account(make_account("alice@example.com"))
    env = {
        **os.environ,
        **emulator_env(emulator_server, tmp_path / "host0"),
        "AGW_REDIS_URL": server.url,
        "AGW_API_KEY": "sk-operator",
    }
    assert agw(env, "accounts", "add", "--refresh-token", "1//alice").returncode == 0
    secret = json.loads(agw(env, "keys", "add", "team", "--rpm", "100", "--json").stdout)["secret"]
    with serve(env) as gateway:
        assert _post(gateway.base, secret).status_code == 200
        server.kill()
        emulator.clear_requests()
        refused = _post(gateway.base, secret)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["status"] == "UNAVAILABLE" and "Redis at" in refused.text
        anthropic = httpx.post(
            gateway.base + "/v1/messages",
            json={
                "model": "gemini-2.5-flash",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
            timeout=30,
        )
        assert anthropic.status_code == 529 and anthropic.json()["error"]["type"] == "overloaded_error"
        assert _generate_calls(emulator) == 0
        assert _post(gateway.base, "sk-operator").status_code == 200  # the operator's key: from memory
        server.start()
        _until(lambda: _post(gateway.base, secret).status_code == 200, "the key works again", timeout=10)


def test_limits_hold_across_workers(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("alice@example.com"))
    env = {**os.environ, **emulator_env(emulator_server, tmp_path / "home")}
    assert agw(env, "accounts", "add", "--refresh-token", "1//alice").returncode == 0
    secret = json.loads(agw(env, "keys", "add", "team", "--rpm", "10", "--json").stdout)["secret"]
    fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: every worker gets some
    with serve(env, "--workers", "2") as gateway:
        pids: set[int] = set()

        def both_workers_answer() -> bool:
            with httpx.Client(timeout=10, limits=fresh) as client:
                pids.add(client.get(gateway.base + "/healthz").json()["worker"]["pid"])
            return len(pids) == 2

        _until(both_workers_answer, "two workers answering", timeout=30)
        emulator.clear_requests()

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30, limits=fresh) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(gateway.base + FLASH, json=BODY, headers={"x-goog-api-key": secret})
                        for _ in range(50)
                    )
                )
            return [a.status_code for a in answers]

        statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 40, statuses
    assert _generate_calls(emulator) == 10
