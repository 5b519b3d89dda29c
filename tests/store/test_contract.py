"""The Store protocol, on SQLite and on Redis: what one process writes another reads, field-level writes,
token versions, leases, requests in flight, change areas, bindings and cooldowns."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from antigravity_gateway.store.base import Account, Catalog, Cooldown, Store

OpenStore = Callable[[], Awaitable[Store]]


def _account(email: str = "a@example.com", **fields: object) -> Account:
    return Account(email=email, refresh_token="1//" + email.split("@")[0], **fields)  # type: ignore[arg-type]


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll ``check`` until it holds (for expiries: time has to pass)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the timeout"


async def test_accounts_round_trip_in_priority_order(store: Store, stores: OpenStore) -> None:
    low = _account(
        "low@example.com", label="x", priority=0, access_token="ya29.a", access_token_expires_at=5.5
    )
    high = _account("high@example.com", priority=3, proxy_url="http://u:p@proxy:8080")
    await store.save_account(low)
    await store.save_account(high)
    other = await stores()
    listed = await other.list_accounts()
    assert [a.email for a in listed] == ["high@example.com", "low@example.com"]
    assert listed[1] == low and listed[0] == high  # every field, token_version included
    assert await other.get_account(low.id) == low
    assert await other.get_account("nope") is None


async def test_email_is_unique(store: Store) -> None:
    await store.save_account(_account("a@example.com"))
    b = _account("b@example.com")
    await store.save_account(b)
    with pytest.raises(ValueError):
        await store.save_account(_account("a@example.com"))
    with pytest.raises(ValueError):
        await store.update_account(b.id, {"email": "a@example.com"})
    assert await store.update_account(b.id, {"email": "c@example.com"}) is not None
    await store.save_account(_account("b@example.com"))  # the old email is free again
    assert sorted(a.email for a in await store.list_accounts()) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


async def test_field_level_update_keeps_other_fields(store: Store, stores: OpenStore) -> None:
    account = _account(label="mine", priority=1)
    await store.save_account(account)
    other = await stores()
    assert await other.update_account(account.id, {"label": "theirs"}) == account.token_version
    # this process changes another field from its (stale) memory: the other's label stays
    assert await store.update_account(account.id, {"priority": 7, "status": "disabled"}) is not None
    stored = await store.get_account(account.id)
    assert stored is not None
    assert (stored.label, stored.priority, stored.status) == ("theirs", 7, "disabled")


async def test_update_does_not_resurrect_a_deleted_account(store: Store, stores: OpenStore) -> None:
    account = _account()
    await store.save_account(account)
    await store.save_cooldown(Cooldown(account.id, "m", time.time() + 60, "rate_limited"))
    await store.save_binding("conv", account.id)
    await store.save_catalog(Catalog(account.id, {"models": {}}, time.time()))
    other = await stores()
    await other.delete_account(account.id)
    assert (
        await store.update_account(account.id, {"refresh_token": "1//new", "access_token": "ya29.x"}) is None
    )
    assert await store.update_account(account.id, {"label": "x"}) is None
    assert await store.list_accounts() == [] and await store.get_account(account.id) is None
    assert await store.list_cooldowns() == []
    assert await store.list_bindings() == {}
    assert await store.list_catalogs() == []


async def test_token_version_refuses_stale_writes(store: Store, stores: OpenStore) -> None:
    account = _account()
    await store.save_account(account)
    v1 = account.token_version
    assert v1 >= 1
    assert await store.update_account(account.id, {"label": "x"}) == v1  # no token field: no bump
    other = await stores()
    v2 = await other.update_account(
        account.id, {"refresh_token": "1//rotated", "access_token": "ya29.b"}, expect_token_version=v1
    )
    assert v2 == v1 + 1
    # this process still holds v1: its write of older tokens is refused, nothing changes
    stale = await store.update_account(
        account.id, {"refresh_token": "1//old", "access_token": "ya29.a"}, expect_token_version=v1
    )
    assert stale is None
    stored = await store.get_account(account.id)
    assert stored is not None and (stored.refresh_token, stored.token_version) == ("1//rotated", v2)
    assert (
        await store.update_account(account.id, {"access_token_expires_at": 9.0}, expect_token_version=v2)
        == v2 + 1
    )
    with pytest.raises(ValueError):
        await store.update_account(account.id, {"token_version": 99})
    # a whole save also bumps the version
    stored.label = "saved"
    await store.save_account(stored)
    assert stored.token_version == v2 + 2


async def test_leases_are_exclusive_expire_and_are_released_by_their_holder(
    store: Store, stores: OpenStore
) -> None:
    other = await stores()
    assert await store.acquire_lease("refresh:a", "p1", 30)
    assert not await other.acquire_lease("refresh:a", "p2", 30)
    assert await store.acquire_lease("refresh:a", "p1", 30)  # the holder again: extended
    assert await other.acquire_lease("refresh:b", "p2", 30)  # another name
    await other.release_lease("refresh:a", "p2")  # not the holder: nothing
    assert not await other.acquire_lease("refresh:a", "p2", 30)
    await store.release_lease("refresh:a", "p1")
    assert await other.acquire_lease("refresh:a", "p2", 0.05)
    # p2 dies holding it: after the ttl it is free
    await _until(lambda: store.acquire_lease("refresh:a", "p1", 30))
    assert not await other.acquire_lease("refresh:a", "p2", 30)


async def test_in_flight_sums_the_other_workers_and_expires(store: Store, stores: OpenStore) -> None:
    other = await stores()
    assert await store.publish_in_flight("w1", {"a": 2, "b": 0}, 30) == {}
    assert await other.publish_in_flight("w2", {"a": 1, "c": 3}, 0.2) == {"a": 2}
    assert await other.publish_in_flight("w3", {"a": 4}, 30) == {"a": 3, "c": 3}
    assert await store.publish_in_flight("w1", {"a": 1}, 30) == {"a": 5, "c": 3}
    # w2 stops publishing (a dead host): its counts expire
    await _until(lambda: _equals(store.publish_in_flight("w1", {"a": 1}, 30), {"a": 4}))
    assert await other.publish_in_flight("w3", {}, 30) == {"a": 1}


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_changes_report_the_areas_written(store: Store, stores: OpenStore) -> None:
    assert await store.changes() == {
        "accounts",
        "cooldowns",
        "bindings",
        "bindings_reset",
        "catalogs",
        "settings",
        "keys",
    }
    assert await store.changes() == set()
    other = await stores()
    await other.changes()
    account = _account()
    await other.save_account(account)
    assert await store.changes() == {"accounts"}
    await other.update_account(account.id, {"label": "x"})
    assert await store.changes() == {"accounts"}
    await other.save_cooldown(Cooldown(account.id, "m", time.time() + 60, "rate_limited"))
    assert await store.changes() == {"cooldowns"}
    await other.clear_cooldowns(account.id)
    assert await store.changes() == {"cooldowns"}
    await other.save_binding("conv", account.id)
    assert await store.changes() == {"bindings"}
    await other.clear_bindings(account.id)
    assert await store.changes() == {"bindings_reset"}
    await other.save_catalog(Catalog(account.id, {}, time.time()))
    assert await store.changes() == {"catalogs"}
    await other.delete_account(account.id)
    assert await store.changes() == {"accounts", "cooldowns", "bindings_reset", "catalogs"}
    await store.publish_in_flight("w", {"a": 1}, 30)
    await store.acquire_lease("x", "h", 30)
    assert await store.changes() == set()
    assert await other.changes() != set()  # the other one saw its own writes too


async def test_bindings_since_order_and_pruning(store: Store) -> None:
    await store.save_binding("old", "a1")
    await store.save_binding("mid", "a1")
    t = time.time()
    await _until(lambda: _later(t))
    await store.save_binding("new", "a2")
    await store.save_binding("old", "a2")  # renewed and moved to the young end
    assert list((await store.list_bindings()).items()) == [("mid", "a1"), ("new", "a2"), ("old", "a2")]
    assert await store.list_bindings(since=t) == {"new": "a2", "old": "a2"}
    assert list(await store.list_bindings(since=t)) == ["new", "old"]
    assert await store.prune_bindings(older_than=t, max_rows=100) == 1
    assert list(await store.list_bindings()) == ["new", "old"]
    await store.save_binding("newest", "a1")
    assert await store.prune_bindings(older_than=0, max_rows=2) == 1
    assert await store.list_bindings() == {"old": "a2", "newest": "a1"}
    assert (await store.get_binding("old"), await store.get_binding("mid")) == ("a2", None)
    await store.clear_bindings("a1")
    assert await store.list_bindings() == {"old": "a2"}
    assert await store.get_binding("newest") is None
    await store.clear_bindings()
    assert await store.list_bindings() == {}


async def _later(t: float) -> bool:
    return time.time() > t


async def test_cooldowns_replace_expire_and_clear(store: Store) -> None:
    now = time.time()
    await store.save_cooldown(Cooldown("a1", "m", now + 60, "rate_limited", "slow down"))
    await store.save_cooldown(Cooldown("a1", "m", now + 120, "quota_exhausted"))  # replaces
    await store.save_cooldown(Cooldown("a1", "*", now + 0.1, "server_error"))
    await store.save_cooldown(Cooldown("a2", "m", now + 60, "rate_limited"))
    listed = sorted(await store.list_cooldowns(), key=lambda c: (c.account_id, c.model))
    assert [(c.account_id, c.model, c.reason) for c in listed] == [
        ("a1", "*", "server_error"),
        ("a1", "m", "quota_exhausted"),
        ("a2", "m", "rate_limited"),
    ]
    assert listed[1].until == now + 120
    await _until(lambda: _count(store, 2))  # the short one expires
    await store.clear_cooldowns("a1")
    assert [c.account_id for c in await store.list_cooldowns()] == ["a2"]
    await store.clear_cooldowns()
    assert await store.list_cooldowns() == []


async def _count(store: Store, n: int) -> bool:
    return len(await store.list_cooldowns()) == n


async def test_catalogs_round_trip(store: Store, stores: OpenStore) -> None:
    await store.save_catalog(Catalog("a1", {"models": {"m": {"quota": 0.5}}}, 12.5, {"five_hour": 0.2}))
    await store.save_catalog(Catalog("a2", {"models": {}}, 13.0))
    other = await stores()
    listed = sorted(await other.list_catalogs(), key=lambda c: c.account_id)
    assert listed == [
        Catalog("a1", {"models": {"m": {"quota": 0.5}}}, 12.5, {"five_hour": 0.2}),
        Catalog("a2", {"models": {}}, 13.0, {}),
    ]


async def test_short_lived_records(store: Store, stores: OpenStore) -> None:
    other = await stores()
    await store.put_record("session", "s1", b"\x00one\xff", ttl=60, max_records=3)
    await store.put_record("session", "s2", b"two", ttl=60, max_records=3)
    await store.put_record("login", "s1", b"a login", ttl=60, max_records=3)  # another kind
    assert await other.get_record("session", "s1") == b"\x00one\xff"
    assert await other.list_records("session") == {"s1": b"\x00one\xff", "s2": b"two"}
    assert list(await other.list_records("session")) == ["s1", "s2"]  # the oldest first
    for n in (3, 4):  # past max_records the oldest go
        await store.put_record("session", f"s{n}", b"x", ttl=60, max_records=3)
    assert list(await other.list_records("session")) == ["s2", "s3", "s4"]
    assert await other.get_record("session", "s1") is None
    # taken once between two processes
    assert await other.take_record("session", "s2") == b"two"
    assert await store.take_record("session", "s2") is None
    await store.delete_records("session", "s3")
    assert list(await other.list_records("session")) == ["s4"]
    await store.delete_records("session")
    assert await other.list_records("session") == {}
    assert await other.get_record("login", "s1") == b"a login"
    await store.put_record("login", "short", b"y", ttl=0.05, max_records=10)
    await _until(lambda: _gone(other, "login", "short"))
    assert list(await other.list_records("login")) == ["s1"]


async def _gone(store: Store, kind: str, key: str) -> bool:
    return await store.get_record(kind, key) is None and await store.take_record(kind, "nothing") is None
