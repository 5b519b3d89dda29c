"""Several hosts on one Redis (issue 10 §3, §5): two ``agw serve`` with their own AGW_HOME and one
``redis-server``. A cooldown, a conversation's account, a rotated refresh token and a live setting
reach the other host; Redis going away leaves the gateways serving (flagged in /healthz) and they
reconcile when it is back; a start without Redis is one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from tests.conftest import emulator_env, free_port, make_account
from tests.redis_server import RedisServer
from tests.served import add_accounts, agw, assert_refreshes_were_shared, mixed_traffic, serve

TRAFFIC_SECONDS = 6.0
TTL = 2
FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"


def _ask(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def _until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``check`` (an HTTP look at a gateway) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


Hosts = Callable[[int], dict[str, str]]


def _hosts(tmp_path: Path, server: EmulatorServer, url: str) -> Hosts:
    """The environment of host ``n``: its own AGW_HOME, the shared Redis."""

    def env(n: int) -> dict[str, str]:
        return {**os.environ, **emulator_env(server, tmp_path / f"host{n}"), "AGW_REDIS_URL": url}

    return env


@pytest.fixture
def hosts(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, redis_url: str) -> Hosts:
    for name in ("alice", "bob"):
        emulator.add_account(
            make_account(f"{name}@example.com", rotate_refresh_token=True, access_token_ttl=TTL)
        )
    env = _hosts(tmp_path, emulator_server, redis_url)
    add_accounts(env(0), "alice", "bob")  # added on host 0 only: host 1 gets them from Redis
    return env


def test_two_hosts_share_refreshes_and_never_reuse_a_refresh_token(hosts: Hosts, emulator: Emulator) -> None:
    emulator.clear_requests()
    with serve(hosts(0)) as first, serve(hosts(1)) as second:
        # a third host's CLI refreshes every account meanwhile
        statuses, quota = mixed_traffic(
            [first.base, second.base],
            FLASH,
            TRAFFIC_SECONDS,
            lambda: agw(hosts(2), "accounts", "quota", "--refresh", "--json"),
        )
        assert quota.returncode == 0, quota.stdout + quota.stderr
        listed = json.loads(agw(hosts(1), "accounts", "list", "--json").stdout)
    assert_refreshes_were_shared(emulator, statuses, TRAFFIC_SECONDS)
    assert sorted(a["status"] for a in listed) == ["enabled", "enabled"], listed


def test_a_429_on_one_host_keeps_the_other_away_from_that_account_for_that_model(
    hosts: Hosts, emulator: Emulator
) -> None:
    model = "gemini-2.5-pro"
    url = f"/v1beta/models/{model}:generateContent"
    with serve(hosts(0)) as first, serve(hosts(1)) as second:
        emulator.add_fault(Fault.rate_limited("60s", model=model, account="alice@example.com", times=1))
        answered = {
            httpx.post(first.base + url, json=_ask(f"q{i}"), timeout=30).status_code for i in range(2)
        }
        assert answered == {200}  # alice's 429 was retried on bob

        def second_knows() -> bool:
            accounts = httpx.get(f"{second.base}/api/accounts", timeout=10).json()
            return any(
                a["email"] == "alice@example.com" and c["model"] == model
                for a in accounts
                for c in a["cooldowns"]
            )

        _until(second_knows, what="the cooldown reaches the second host")
        emulator.clear_requests()
        for i in range(4):
            assert httpx.post(second.base + url, json=_ask(f"more {i}"), timeout=30).status_code == 200
        served = {r.account_email for r in emulator.requests if r.method == "generateContent"}
        assert served == {"bob@example.com"}
        emulator.clear_requests()
        for i in range(6):  # another model is not affected: alice serves it too
            assert httpx.post(second.base + FLASH, json=_ask(f"flash {i}"), timeout=30).status_code == 200
        assert "alice@example.com" in {
            r.account_email for r in emulator.requests if r.method == "generateContent"
        }


def test_a_conversation_stays_on_its_account_across_hosts(hosts: Hosts, emulator: Emulator) -> None:
    def served_by(base: str, conversation: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        emulator.clear_requests()
        answer = httpx.post(base + FLASH, json={"contents": conversation}, timeout=30)
        assert answer.status_code == 200, answer.text
        (generated,) = [r for r in emulator.requests if r.method == "generateContent"]
        reply = answer.json()["candidates"][0]["content"]
        return str(generated.account_email), [
            *conversation,
            reply,
            {"role": "user", "parts": [{"text": "more"}]},
        ]

    with serve(hosts(0)) as first, serve(hosts(1)) as second:
        conversations = {}
        for n in range(3):
            email, conversation = served_by(first.base, _ask(f"conversation {n} begins here")["contents"])
            conversations[n] = (email, conversation)
        # Now make the other host prefer another account: the conversations must stay where they are.
        bound = {email for email, _ in conversations.values()}
        accounts = httpx.get(f"{first.base}/api/accounts", timeout=10).json()
        preferred = next(a for a in accounts if a["email"] not in bound or len(bound) > 1)
        patched = httpx.patch(
            f"{first.base}/api/accounts/{preferred['id']}", json={"priority": 10}, timeout=10
        )
        assert patched.status_code == 200, patched.text
        _until(
            lambda: any(
                a["id"] == preferred["id"] and a["priority"] == 10
                for a in httpx.get(f"{second.base}/api/accounts", timeout=10).json()
            ),
            what="the priority reaches the second host",
        )
        assert served_by(second.base, _ask("a new conversation")["contents"])[0] == preferred["email"]
        for n, (email, conversation) in conversations.items():
            for base in (second.base, first.base, second.base):
                served, conversation = served_by(base, conversation)
                assert served == email, (n, base)


def test_a_live_setting_changed_on_one_host_applies_on_the_other(hosts: Hosts) -> None:
    with serve(hosts(0)) as first, serve(hosts(1)) as second:
        changed = httpx.patch(
            f"{first.base}/api/settings", json={"scheduling_mode": "performance"}, timeout=10
        )
        assert changed.status_code == 200, changed.text
        started = time.monotonic()
        _until(
            lambda: (
                httpx.get(f"{second.base}/api/settings", timeout=10).json()["scheduling_mode"]
                == "performance"
            ),
            what="the setting reaches the second host",
        )
        assert time.monotonic() - started < 2.0
        # and the same through a host's config.toml (its gateway applies it, then shares it)
        assert agw(hosts(1), "config", "set", "quota_protection", "5").returncode == 0
        _until(
            lambda: httpx.get(f"{first.base}/api/settings", timeout=10).json()["quota_protection"] == 5,
            what="config.toml's change reaches the first host",
        )


def test_health_names_the_host_and_the_store(hosts: Hosts) -> None:
    with serve(hosts(0)) as first:
        health = httpx.get(f"{first.base}/healthz", timeout=10).json()
        assert health["host"] and health["store"] == {"ok": True, "backend": "redis"}  # no address: open
        overview = httpx.get(f"{first.base}/api/overview", timeout=10).json()
        assert overview["host"] == health["host"]
        assert overview["store"] == {"ok": True, "backend": "redis", "url": hosts(0)["AGW_REDIS_URL"]}


# -- Redis going away ------------------------------------------------------------------------------


@pytest.fixture
def own_redis(redis_factory: Callable[[], RedisServer]) -> Iterator[RedisServer]:
    yield redis_factory()


def test_redis_killed_mid_traffic_then_restarted(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, own_redis: RedisServer
) -> None:
    for name in ("alice", "bob"):  # access tokens that stay fresh through the outage
        emulator.add_account(make_account(f"{name}@example.com"))
    env = _hosts(tmp_path, emulator_server, own_redis.url)
    add_accounts(env(0), "alice", "bob")
    with serve(env(0)) as first, serve(env(1)) as second:
        for base in (first.base, second.base):
            assert httpx.post(base + FLASH, json=_ask("warm up"), timeout=30).status_code == 200
        own_redis.kill()
        started = time.monotonic()
        for i in range(10):  # no hang, no failure: served from memory
            for base in (first.base, second.base):
                answer = httpx.post(base + FLASH, json=_ask(f"during the outage {i}"), timeout=30)
                assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < 20

        def store_ok(base: str) -> bool:
            return bool(httpx.get(f"{base}/healthz", timeout=10).json()["store"]["ok"])

        _until(
            lambda: not store_ok(first.base) and not store_ok(second.base), what="/healthz flags the store"
        )
        health = httpx.get(f"{first.base}/healthz", timeout=10).json()
        assert health["ready"] is True and health["store"]["down_for"] >= 0  # still ready: it serves
        assert "error" not in health["store"] and "url" not in health["store"]  # open to anyone
        overview = httpx.get(f"{first.base}/api/overview", timeout=10).json()
        assert overview["store"]["ok"] is False and overview["store"]["error"]
        # a refresh needs the store: a clear 503 in the client's protocol (here Gemini's), no traceback
        emulator.expire_access_tokens()
        refused = httpx.post(first.base + FLASH, json=_ask("needs a refresh"), timeout=30)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["status"] == "UNAVAILABLE" and "Redis at redis://127.0.0.1" in error["message"]
        anthropic = httpx.post(
            f"{first.base}/v1/messages",
            json={
                "model": "claude-sonnet-4-6",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
            timeout=30,
        )
        # Anthropic's protocol says "unavailable, retry" as 529 overloaded_error (Claude Code retries it)
        assert anthropic.status_code == 529, anthropic.text
        assert anthropic.json()["error"]["type"] == "overloaded_error"
        assert "Redis at" in anthropic.json()["error"]["message"]

        own_redis.start()  # back on the same port, empty (no persistence here): seeded from a local copy
        restarted = time.monotonic()
        _until(lambda: store_ok(first.base) and store_ok(second.base), what="the flag clears")
        assert time.monotonic() - restarted < 5
        for base in (first.base, second.base):
            answer = httpx.post(base + FLASH, json=_ask("after the outage"), timeout=30)
            assert answer.status_code == 200, answer.text
        # a change on one host reaches the other
        alice = next(
            a
            for a in httpx.get(f"{first.base}/api/accounts", timeout=10).json()
            if a["email"].startswith("alice")
        )
        patched = httpx.patch(f"{first.base}/api/accounts/{alice['id']}", json={"label": "after"}, timeout=10)
        assert patched.status_code == 200, patched.text

        def labelled() -> bool:
            accounts = httpx.get(f"{second.base}/api/accounts", timeout=10).json()
            return any(a["id"] == alice["id"] and a["label"] == "after" for a in accounts)

        _until(labelled, what="the label reaches the other host")
        logs = first.stop() + second.stop()
    assert "Traceback" not in logs, logs
    assert logs.count("is unreachable (") == 2, logs  # one warning per host and outage
    assert "reachable again" in logs


def test_serve_with_redis_down_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, emulator_server: EmulatorServer
) -> None:
    url = f"redis://:sekrit-password@127.0.0.1:{free_port()}/0"
    env = _hosts(tmp_path, emulator_server, url)(0)
    result = subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    (line,) = output.splitlines()  # nothing else: no banner, no traceback
    assert line.startswith("error: Redis at redis://:***@127.0.0.1") and "cannot be reached" in line, output
    assert "Traceback" not in output and "sekrit-password" not in output
    listed = agw(env, "accounts", "list")
    assert listed.returncode == 1 and listed.stderr.count("\n") == 1 and "cannot be reached" in listed.stderr
