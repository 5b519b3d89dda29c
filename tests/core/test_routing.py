"""Routing through the pool, end to end against the emulator: rotation, cooldowns, fallback, stickiness."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, GatewayThread, make_account

URL = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM_URL = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def ask(text: str = "Tell me something about routing") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def served_by(answer: Any) -> str:
    text = "".join(p.get("text", "") for p in answer.json()["candidates"][0]["content"]["parts"])
    for email in ("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"):
        if email in text:
            return email
    raise AssertionError(f"no account in {text!r}")


def attempts(gateway: Gateway, method: str = "generateContent") -> list[Any]:
    return [r for r in gateway.emulator.requests if r.method == method]


def two_accounts(factory: GatewayFactory, **overrides: Any) -> Gateway:
    return factory([make_account("alice@example.com"), make_account("bob@example.com")], **overrides)


def test_rate_limited_account_is_rotated_and_cooled_with_the_given_delay(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = two_accounts(gateway_factory)
    first = gateway.http().post(URL, json=ask("first conversation here"))
    victim = served_by(first)
    other = ({"alice@example.com", "bob@example.com"} - {victim}).pop()
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="30s", account=victim, times=None))
    answer = gateway.http().post(URL, json=ask("first conversation here"))  # sticky: tries the victim first
    assert answer.status_code == 200
    assert served_by(answer) == other
    scheduler = gateway.state.scheduler
    victim_id = next(a.id for a in gateway.state.pool.accounts.values() if a.email == victim)
    remaining = scheduler.cooling_until(victim_id, "gemini-2.5-flash") - time.time()
    assert 25 < remaining <= 30
    # While it cools down the victim is not asked again.
    gateway.emulator.clear_requests()
    for i in range(3):
        assert served_by(gateway.http().post(URL, json=ask(f"another conversation {i}"))) == other
    assert all(r.account_email == other for r in attempts(gateway))


def test_quota_exhausted_cools_until_reset_not_minutes(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)  # equal quota: alice, the older account, is tried first
    gateway.emulator.add_fault(
        Fault.quota_exhausted(reset_seconds=7200, account="alice@example.com", times=None)
    )
    answer = gateway.http().post(URL, json=ask())
    assert served_by(answer) == "bob@example.com"
    alice = next(a for a in gateway.state.pool.accounts.values() if a.email == "alice@example.com")
    remaining = gateway.state.scheduler.cooling_until(alice.id, "gemini-2.5-flash") - time.time()
    assert remaining > 7000
    assert [r.account_email for r in attempts(gateway)] == ["alice@example.com", "bob@example.com"]
    # Another model on the same account is not affected.
    other = gateway.http().post(
        "/v1beta/models/gemini-2.5-pro:generateContent", json=ask("a pro question please")
    )
    assert other.status_code == 200


def test_all_accounts_cooling_down_answers_429_with_retry_after(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(Fault.quota_exhausted(reset_seconds=120, times=None))
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 429
    assert answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 100 <= int(answer.headers["retry-after"]) <= 120
    assert len(attempts(gateway)) == 2
    # The next request does not touch the upstream at all.
    gateway.emulator.clear_requests()
    again = gateway.http().post(URL, json=ask())
    assert again.status_code == 429 and 100 <= int(again.headers["retry-after"]) <= 120
    assert attempts(gateway) == []


def test_a_short_retry_delay_is_waited_for_instead_of_failing(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="1s"))
    started = time.monotonic()
    answer = gateway.http().post(URL, json=ask())
    elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert len(attempts(gateway)) == 2
    assert 0.9 <= elapsed < 3


def test_at_most_three_attempts(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account(f"{n}@example.com") for n in ("alice", "bob", "carol", "dave")])
    gateway.emulator.add_fault(Fault.server_error(status=500, times=None))
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == 500
    accounts = {r.account_email for r in attempts(gateway)}
    assert len(accounts) == 3
    assert len(attempts(gateway)) == 9  # 3 accounts x 3 endpoints (5xx falls back to the next endpoint)


def test_endpoint_fallback_on_network_error_and_5xx_but_not_429(gateway: Gateway) -> None:
    emu = gateway.emulator
    emu.add_fault(Fault.endpoint_down(endpoint="sandbox", times=None))
    emu.add_fault(Fault.server_error(status=503, endpoint="daily", times=1))
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 200
    assert [r.endpoint for r in attempts(gateway)] == ["sandbox", "daily", "prod"]
    emu.clear_faults()
    emu.clear_requests()
    emu.add_fault(Fault.rate_limited(retry_delay="60s", endpoint="sandbox"))
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 429
    assert [r.endpoint for r in attempts(gateway)] == ["sandbox"]


def test_upstream_401_forces_one_token_refresh_then_succeeds(gateway: Gateway) -> None:
    gateway.emulator.expire_access_tokens()
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 200
    assert [r.status for r in attempts(gateway)] == [401, 200]
    assert len([r for r in gateway.emulator.requests if r.method == "token"]) == 1


def test_a_refused_token_is_refreshed_once_for_many_waiters(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account("alice@example.com")])
    gateway.emulator.expire_access_tokens()
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda i: gateway.http().post(URL, json=ask(f"concurrent question {i}")), range(16))
        )
    assert all(a.status_code == 200 for a in answers)
    # Every request met a 401 with the same token; the waiters shared one refresh.
    refreshes = [r for r in gateway.emulator.requests if r.method == "token"]
    assert len(refreshes) == 1


def test_the_refresh_margin_is_at_most_a_quarter_of_the_token_lifetime(
    gateway_factory: GatewayFactory,
) -> None:
    """A 400 s token with a 600 s margin would need a refresh on every request: the margin is clamped to
    100 s, so the token added a moment ago is used as it is."""
    gateway = gateway_factory(
        [make_account("alice@example.com", access_token_ttl=400)], token_refresh_skew=600
    )
    for i in range(5):
        assert gateway.http().post(URL, json=ask(f"question {i}")).status_code == 200
    assert [r for r in gateway.emulator.requests if r.method == "token"] == []


def test_invalid_grant_disables_the_account_with_its_reason(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    emu = gateway.emulator
    emu.revoke("1//alice")
    emu.expire_access_tokens("alice@example.com")
    for i in range(3):
        answer = gateway.http().post(URL, json=ask(f"question number {i} for the pool"))
        assert answer.status_code == 200
        assert served_by(answer) == "bob@example.com"
    alice = next(a for a in gateway.state.pool.accounts.values() if a.email == "alice@example.com")
    assert alice.status == "invalid_grant"
    assert "invalid_grant" in alice.status_reason


def test_a_rotated_refresh_token_is_saved(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account("alice@example.com", rotate_refresh_token=True)])
    gateway.emulator.expire_access_tokens()
    assert gateway.http().post(URL, json=ask()).status_code == 200
    alice = gateway.accounts[0]
    current = gateway.state.pool.accounts[alice.id].refresh_token
    assert current != "1//alice"

    async def stored() -> str:
        from antigravity_gateway.store.sqlite import SQLiteStore

        async with SQLiteStore(gateway.settings.db_path) as store:
            return (await store.list_accounts())[0].refresh_token

    assert asyncio.run(stored()) == current
    gateway.emulator.expire_access_tokens()
    assert gateway.http().post(URL, json=ask()).status_code == 200


def test_validation_required_sets_the_account_aside_with_the_link(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(Fault.validation_required(account="alice@example.com", times=None))
    answers = [gateway.http().post(URL, json=ask(f"validation question {i}")) for i in range(2)]
    assert {served_by(a) for a in answers} == {"bob@example.com"}
    alice = next(a for a in gateway.state.pool.accounts.values() if a.email == "alice@example.com")
    assert alice.status == "validation_required"
    assert alice.validation_url.startswith("https://")


def test_conversations_stick_to_one_account(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    http = gateway.http()
    first_turn = ask("Let us talk about sticky sessions")
    owner = served_by(http.post(URL, json=first_turn))
    history = first_turn["contents"] + [{"role": "model", "parts": [{"text": "ok"}]}]
    for i in range(3):
        turn = {"contents": history + [{"role": "user", "parts": [{"text": f"follow-up {i}"}]}]}
        assert served_by(http.post(URL, json=turn)) == owner
    other = served_by(http.post(URL, json=ask("A completely different conversation")))
    assert other != owner


def test_cooldowns_and_bindings_survive_a_restart(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(
        Fault.quota_exhausted(reset_seconds=3600, account="alice@example.com", times=None)
    )
    assert gateway.http().post(URL, json=ask("restart test conversation")).status_code == 200
    bindings = dict(gateway.state.scheduler.bindings)
    assert bindings
    gateway.thread.stop()  # the lifespan waits for pending store writes
    gateway.thread = GatewayThread(gateway.settings)  # stopped by the fixture
    gateway.url = gateway.thread.start()
    state = gateway.state
    alice = next(a for a in state.pool.accounts.values() if a.email == "alice@example.com")
    assert state.scheduler.cooling_until(alice.id, "gemini-2.5-flash") > time.time() + 3000
    assert state.scheduler.bindings == bindings


# -- streams ------------------------------------------------------------------------------------


def test_stream_failure_before_the_first_event_rotates(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(Fault.cut_stream(after_events=0, account="alice@example.com", times=1))
    gateway.emulator.add_fault(Fault.cut_stream(after_events=0, account="bob@example.com", times=1))
    answer = gateway.http().post(STREAM_URL, json=ask("stream rotation test"))
    assert answer.status_code == 200
    events = [orjson.loads(b[6:]) for b in answer.content.split(b"\r\n\r\n") if b]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    tries = attempts(gateway, "streamGenerateContent")
    assert len(tries) == 3  # both accounts fail once, then the first one is tried again
    assert tries[0].account_email != tries[1].account_email


def test_stream_cut_mid_way_ends_with_a_gemini_error_event_promptly(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.cut_stream(after_events=2))
    started = time.monotonic()
    answer = gateway.http().post(STREAM_URL, json=ask("cut me off please"))
    assert time.monotonic() - started < 5
    assert answer.status_code == 200
    blocks = [b for b in answer.content.split(b"\r\n\r\n") if b]
    events = [orjson.loads(b[6:]) for b in blocks]
    assert len(events) == 3
    assert "candidates" in events[0] and "candidates" in events[1]
    assert events[2]["error"]["code"] >= 500 and events[2]["error"]["status"]


def test_stream_429_before_any_event_is_a_plain_429(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.quota_exhausted(reset_seconds=600, times=None))
    answer = gateway.http().post(STREAM_URL, json=ask())
    assert answer.status_code == 429
    assert answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert int(answer.headers["retry-after"]) > 500


def test_slow_first_byte_still_streams(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.slow_first_byte(1.0))
    answer = gateway.http().post(STREAM_URL, json=ask())
    assert answer.status_code == 200 and answer.content.count(b"data: ") >= 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_rotate_to_a_healthy_account(gateway_factory: GatewayFactory, status: int) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(Fault.server_error(status=status, account="alice@example.com", times=None))
    for i in range(2):
        answer = gateway.http().post(URL, json=ask(f"server error case {i}"))
        assert answer.status_code == 200 and served_by(answer) == "bob@example.com"


def test_new_conversations_go_where_the_most_quota_is_left(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        [
            make_account("alice@example.com", quota_requests={"gemini-2.5-flash": 0}),
            make_account("bob@example.com"),
        ]
    )
    for i in range(3):
        assert served_by(gateway.http().post(URL, json=ask(f"quota aware choice {i}"))) == "bob@example.com"
    assert {r.account_email for r in attempts(gateway)} == {"bob@example.com"}


def test_quota_protection_keeps_low_accounts_out(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        [make_account("alice@example.com", quota_requests={"gemini-2.5-flash": 10})], quota_protection=50.0
    )
    http = gateway.http()
    for i in range(5):  # alice goes from 100 % to 50 % left
        assert http.post(URL, json=ask(f"protected question {i}")).status_code == 200
    asyncio.run(_refresh_catalog(gateway))
    answer = http.post(URL, json=ask("one more please, protected"))
    assert answer.status_code == 200  # 50 % left is not below 50 %
    asyncio.run(_refresh_catalog(gateway))
    answer = http.post(URL, json=ask("and another one, protected"))
    assert answer.status_code == 429
    assert "quota protection" in answer.json()["error"]["message"]


async def _refresh_catalog(gateway: Gateway) -> None:
    """Fetch the model quotas again (what the background refresh does), on the gateway's own loop."""
    loop = gateway.state.loop
    future = asyncio.run_coroutine_threadsafe(gateway.state.catalog.refresh_all(), loop)
    await asyncio.wrap_future(future)


@pytest.mark.parametrize("mode", ["performance", "fixed"])
def test_scheduling_modes(gateway_factory: GatewayFactory, mode: str) -> None:
    gateway = two_accounts(gateway_factory, scheduling_mode=mode, fixed_account="bob@example.com")
    http = gateway.http()
    first_turn = ask("a conversation that would stick in balance mode")
    served = [served_by(http.post(URL, json=first_turn)) for _ in range(4)]
    if mode == "fixed":
        assert served == ["bob@example.com"] * 4
    else:  # least busy, no stickiness: sequential requests alternate by last use
        assert set(served) == {"alice@example.com", "bob@example.com"}
        assert gateway.state.scheduler.bindings == {}


def test_cache_first_waits_for_the_conversations_account(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory, scheduling_mode="cache-first", cache_first_max_wait=5.0)
    http = gateway.http()
    conversation = ask("cache first conversation, keep me on one account")
    owner = served_by(http.post(URL, json=conversation))
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="1s", account=owner))
    started = time.monotonic()
    assert served_by(http.post(URL, json=conversation)) == owner  # waited instead of switching
    assert 0.9 < time.monotonic() - started < 3
    assert {r.account_email for r in attempts(gateway)} == {owner}


def test_forbidden_account_is_set_aside_then_recovers(gateway_factory: GatewayFactory) -> None:
    gateway = two_accounts(gateway_factory)
    gateway.emulator.add_fault(Fault(status=403, account="alice@example.com"))
    answer = gateway.http().post(URL, json=ask("forbidden case"))
    assert served_by(answer) == "bob@example.com"
    alice = next(a for a in gateway.state.pool.accounts.values() if a.email == "alice@example.com")
    assert alice.status == "forbidden" and "403" in alice.status_reason and not alice.usable
    alice.status_until = time.time() - 1  # its time out is over: it is tried again, and works
    answers = [served_by(gateway.http().post(URL, json=ask(f"after forbidden {i}"))) for i in range(2)]
    assert "alice@example.com" in answers
    assert alice.status == "enabled"
