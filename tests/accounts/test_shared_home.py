"""Issue 10's opening case: two ``agw serve`` on one AGW_HOME (and a CLI command beside them), with
refresh-token rotation and 2-second access tokens, under traffic on both.

Before, the two processes refreshed on every request, sent refresh tokens the other one had already
replaced, and one of them failed every request. Now a refresh is single-flight across processes, no
refresh token is ever sent twice, nothing is disabled and both serve every request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from tests.conftest import emulator_env, make_account
from tests.served import add_accounts, agw, assert_refreshes_were_shared, mixed_traffic, serve

TRAFFIC_SECONDS = 6.0
TTL = 2


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> dict[str, str]:
    for name in ("alice", "bob"):
        emulator.add_account(
            make_account(f"{name}@example.com", rotate_refresh_token=True, access_token_ttl=TTL)
        )
    values = {**os.environ, **emulator_env(emulator_server, tmp_path / "home")}
    add_accounts(values, "alice", "bob")
    return values


def test_two_gateways_on_one_home_share_refreshes_and_never_reuse_a_refresh_token(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.clear_requests()
    with serve(env) as first, serve(env) as second:
        # A CLI command that refreshes every account runs while both gateways serve.
        statuses, quota = mixed_traffic(
            [first.base, second.base],
            "/v1beta/models/gemini-2.5-flash:generateContent",
            TRAFFIC_SECONDS,
            lambda: agw(env, "accounts", "quota", "--refresh", "--json"),
        )
        assert quota.returncode == 0, quota.stdout + quota.stderr
        listed = json.loads(agw(env, "accounts", "list", "--json").stdout)
    assert_refreshes_were_shared(emulator, statuses, TRAFFIC_SECONDS)
    assert sorted(a["status"] for a in listed) == ["enabled", "enabled"], listed


def test_a_cooldown_seen_by_one_gateway_keeps_the_other_away(env: dict[str, str], emulator: Emulator) -> None:
    model = "gemini-2.5-pro"
    url = f"/v1beta/models/{model}:generateContent"
    ask = {"contents": [{"role": "user", "parts": [{"text": "spend the quota"}]}]}
    with serve(env) as first, serve(env) as second:
        for email in ("alice@example.com", "bob@example.com"):
            emulator.add_fault(Fault.rate_limited("60s", model=model, account=email, times=1))
        # Both accounts answer 429 on the first gateway: both cool down for a minute, for that model.
        answer = httpx.post(first.base + url, json=ask, timeout=30)
        assert answer.status_code == 429, answer.text
        deadline = time.monotonic() + 5
        while True:  # the second gateway learns both cooldowns from the shared store
            accounts = httpx.get(f"{second.base}/api/accounts", timeout=10).json()
            cooling = {a["email"] for a in accounts for c in a["cooldowns"] if c["model"] == model}
            if cooling == {"alice@example.com", "bob@example.com"}:
                break
            assert time.monotonic() < deadline, accounts
        emulator.clear_requests()
        answer = httpx.post(second.base + url, json=ask, timeout=30)
        assert answer.status_code == 429 and "cooling down" in answer.text, answer.text
        assert [r.method for r in emulator.requests if r.endpoint != "oauth"] == []  # Google was spared
        other = httpx.post(second.base + url.replace(model, "gemini-2.5-flash"), json=ask, timeout=30)
        assert other.status_code == 200  # another model is not affected


def test_a_conversation_stays_on_its_account_across_gateways(env: dict[str, str], emulator: Emulator) -> None:
    """Each conversation starts on the first gateway on an account it would not choose by itself (the
    other one fails that request), then goes on through both gateways: it stays on its account."""
    url = "/v1beta/models/gemini-2.5-flash:generateContent"
    with serve(env) as first, serve(env) as second:
        served: dict[str, list[str]] = {}
        for n in range(4):
            emulator.clear_requests()
            start_on = ("alice@example.com", "bob@example.com")[n % 2]
            other = ("bob@example.com", "alice@example.com")[n % 2]
            emulator.add_fault(Fault.server_error(account=other, times=None))
            conversation = [{"role": "user", "parts": [{"text": f"conversation {n} begins here"}]}]
            for turn, base in enumerate((first.base, second.base, first.base, second.base)):
                answer = httpx.post(base + url, json={"contents": conversation}, timeout=30)
                assert answer.status_code == 200, answer.text
                if turn == 0:
                    emulator.clear_faults()
                reply = answer.json()["candidates"][0]["content"]
                conversation = [*conversation, reply, {"role": "user", "parts": [{"text": "and then?"}]}]
            generated = [r for r in emulator.requests if r.method == "generateContent" and r.status == 200]
            served[start_on] = [str(r.account_email) for r in generated]
        assert served == {email: [email] * 4 for email in ("alice@example.com", "bob@example.com")}, served
