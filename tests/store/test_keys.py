"""The store contract for user keys: the key records, and counters that are exact under concurrency and
across processes (two stores on the same state), in-flight slots that are released or expire, and daily
totals that survive reopening the store."""

from __future__ import annotations

import asyncio
import time

import pytest

from antigravity_gateway.keys.record import ApiKey, KeyUsage, next_utc_midnight, utc_day
from antigravity_gateway.keys.secret import display_prefix, hash_secret, new_secret
from tests.store.conftest import StoreOpener

T0 = 1_800_000_000.0  # a fixed clock for the window arithmetic (2027-01-15 08:00 UTC)


def _key(name: str = "ada", **fields: object) -> ApiKey:
    secret = new_secret()
    return ApiKey(name=name, prefix=display_prefix(secret), secret_hash=hash_secret(secret), **fields)  # type: ignore[arg-type]


async def _admit(store: object, name: str, request_id: str, **limits: object) -> object:
    values: dict[str, object] = {"rpm": 0, "concurrency": 0, "tokens_per_day": 0, "ttl": 60.0}
    values.update(limits)
    return await store.admit_key_request(name, request_id, **values)  # type: ignore[attr-defined]


async def test_keys_are_created_read_edited_and_removed(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        await one.changes()
        key = _key(models=("gemini-*",), rpm=10, ips=("10.0.0.0/8",), note="team a")
        await one.create_key(key)
        assert await two.get_key("ada") == key
        assert [k.name for k in await two.list_keys()] == ["ada"]
        assert "keys" in await one.changes()
        with pytest.raises(ValueError, match="already exists"):
            await two.create_key(_key())
        edited = await two.update_key("ada", {"rpm": 0, "models": ("claude-*", "gemini-3*"), "note": ""})
        assert edited is not None
        assert (edited.rpm, edited.models, edited.note, edited.ips) == (
            0,
            ("claude-*", "gemini-3*"),
            "",
            key.ips,
        )
        assert await one.changes() == {"keys"}
        assert await one.update_key("nobody", {"rpm": 1}) is None
        with pytest.raises(ValueError, match="not writable"):
            await one.update_key("ada", {"name": "eve"})
        assert await one.delete_key("ada")
        assert not await one.delete_key("ada")
        assert await two.get_key("ada") is None
        assert await one.changes() == {"keys"}


async def test_rpm_admits_exactly_the_limit_under_concurrency(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.create_key(_key(rpm=10))
        answers = await asyncio.gather(*(_admit(store, "ada", f"r{i}", rpm=10) for i in range(50)))
        assert sum(a.admitted for a in answers) == 10  # type: ignore[attr-defined]
        refused = [a for a in answers if not a.admitted]  # type: ignore[attr-defined]
        assert {a.limit for a in refused} == {"rpm"}  # type: ignore[attr-defined]
        assert all(0 < a.retry_after <= 60 for a in refused)  # type: ignore[attr-defined]
        (today,) = await store.key_usage("ada")
        assert today.refused == 40


async def test_rpm_is_exact_across_two_processes(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        await one.create_key(_key(rpm=10))
        answers = await asyncio.gather(
            *(_admit(one if i % 2 else two, "ada", f"r{i}", rpm=10) for i in range(50))
        )
        assert sum(a.admitted for a in answers) == 10  # type: ignore[attr-defined]


async def test_the_rpm_window_slides(open_store: StoreOpener) -> None:
    async with open_store() as store:
        first = await _admit(store, "ada", "a", rpm=2, now=T0)
        second = await _admit(store, "ada", "b", rpm=2, now=T0 + 20)
        assert first.admitted and second.admitted  # type: ignore[attr-defined]
        assert (second.window_requests, second.window_reset) == (2, pytest.approx(40))  # type: ignore[attr-defined]
        refused = await _admit(store, "ada", "c", rpm=2, now=T0 + 30)
        assert (refused.limit, refused.retry_after) == ("rpm", pytest.approx(30))  # type: ignore[attr-defined]
        # The first request leaves the window 60 s after it started: one more fits, not two.
        assert (await _admit(store, "ada", "d", rpm=2, now=T0 + 60.5)).admitted  # type: ignore[attr-defined]
        late = await _admit(store, "ada", "e", rpm=2, now=T0 + 61)
        assert (late.limit, late.retry_after) == ("rpm", pytest.approx(19))  # type: ignore[attr-defined]
        # A lowered limit waits for enough requests to leave.
        lowered = await _admit(store, "ada", "f", rpm=1, now=T0 + 61)
        assert lowered.retry_after == pytest.approx(59.5)  # type: ignore[attr-defined]


async def test_concurrency_slots_are_released_and_expire(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        limits = {"concurrency": 2, "ttl": 60.0}
        assert (await _admit(one, "ada", "a", now=T0, **limits)).admitted  # type: ignore[attr-defined]
        assert (await _admit(two, "ada", "b", now=T0, **limits)).admitted  # type: ignore[attr-defined]
        refused = await _admit(one, "ada", "c", now=T0 + 1, **limits)
        assert (refused.limit, refused.in_flight) == ("concurrency", 2)  # type: ignore[attr-defined]
        await two.release_key_request("ada", "a")
        await two.release_key_request("ada", "a")  # twice: no slot freed for someone else
        assert (await _admit(one, "ada", "c", now=T0 + 2, **limits)).admitted  # type: ignore[attr-defined]
        assert (await _admit(one, "ada", "d", now=T0 + 3, **limits)).limit == "concurrency"  # type: ignore[attr-defined]
        # "b" and "c" were never released (their process died): they expire 60 s after admission.
        assert (await _admit(two, "ada", "e", now=T0 + 62.5, **limits)).admitted  # type: ignore[attr-defined]


async def test_running_requests_are_extended_and_released_ones_stay_released(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        now = time.time()
        assert (await _admit(one, "ada", "long", concurrency=2, ttl=5.0, now=now)).admitted  # type: ignore[attr-defined]
        assert (await _admit(one, "ada", "short", concurrency=2, ttl=5.0, now=now)).admitted  # type: ignore[attr-defined]
        await one.release_key_request("ada", "short")
        await one.extend_key_requests([("ada", "long"), ("ada", "short")], ttl=120.0)
        assert await two.keys_in_flight() == {"ada": 1}
        later = await _admit(two, "ada", "x", concurrency=1, ttl=5.0, now=now + 60)
        assert (later.limit, later.in_flight) == ("concurrency", 1)  # type: ignore[attr-defined]


async def test_tokens_per_day_refuse_once_reached_until_utc_midnight(open_store: StoreOpener) -> None:
    async with open_store() as store:
        day = utc_day(T0)
        assert (await _admit(store, "ada", "a", tokens_per_day=100, now=T0)).admitted  # type: ignore[attr-defined]
        await store.release_key_request(
            "ada", "a", KeyUsage("ada", day, requests=1, input_tokens=60, output_tokens=39, last_used_at=T0)
        )
        below = await _admit(store, "ada", "b", tokens_per_day=100, now=T0 + 1)
        assert below.admitted and below.tokens_today == 99  # type: ignore[attr-defined]
        await store.release_key_request(  # the request in progress crossed the limit: served in full
            "ada", "b", KeyUsage("ada", day, requests=1, input_tokens=10, output_tokens=10, last_used_at=T0)
        )
        refused = await _admit(store, "ada", "c", tokens_per_day=100, now=T0 + 2)
        assert refused.limit == "tokens_per_day"  # type: ignore[attr-defined]
        assert refused.retry_after == pytest.approx(next_utc_midnight(T0) - T0 - 2)  # type: ignore[attr-defined]
        tomorrow = next_utc_midnight(T0) + 1
        assert (await _admit(store, "ada", "d", tokens_per_day=100, now=tomorrow)).admitted  # type: ignore[attr-defined]


async def test_daily_totals_survive_reopening_the_store(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.create_key(_key())
        now = time.time()
        for request_id, status_error in (("a", 0), ("b", 1)):
            await _admit(store, "ada", request_id)
            usage = KeyUsage(
                "ada", utc_day(now), requests=1, input_tokens=7, output_tokens=5, errors=status_error,
                last_used_at=now,
            )  # fmt: skip
            await store.release_key_request("ada", request_id, usage)
        before = await store.changes()
        assert before  # the first call reports every area
        await store.release_key_request("ada", "c", KeyUsage("ada", utc_day(now), last_used_at=now))
        assert await store.changes() == set(), "usage is not a change of the key table"
    async with open_store() as reopened:
        (today,) = await reopened.key_usage("ada", since_day=utc_day(now))
        assert (today.requests, today.input_tokens, today.output_tokens, today.errors) == (2, 14, 10, 1)
        assert today.last_used_at == pytest.approx(now)
        key = await reopened.get_key("ada")
        assert key is not None and key.last_used_at == pytest.approx(now)
        assert await reopened.key_usage("ada", since_day="9999-01-01") == []
        assert await reopened.key_usage("nobody") == []
