"""The store contract for state shared between processes: field-level writes, token versions, leases,
requests in flight, change areas, incremental bindings. Each test opens two stores on the same state, as
two processes (or hosts) would."""

from __future__ import annotations

import time

import pytest

from antigravity_gateway.store.base import Account, Cooldown
from tests.store.conftest import StoreOpener


def _account(email: str = "ada@example.com", **fields: object) -> Account:
    return Account(email=email, refresh_token="1//first", **fields)  # type: ignore[arg-type]


async def test_a_field_write_changes_only_that_field(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        account = _account(label="old")
        await one.save_account(account)
        assert await two.update_account(account.id, {"label": "new"}) == account.token_version
        assert await one.update_account(account.id, {"priority": 5}) == account.token_version
        stored = await one.get_account(account.id)
        assert stored is not None
        assert (stored.label, stored.priority, stored.refresh_token) == ("new", 5, "1//first")


async def test_a_removed_account_never_comes_back(open_store: StoreOpener) -> None:
    """The review's case: `agw accounts remove` while another process finished a refresh."""
    async with open_store() as one, open_store() as two:
        account = _account()
        await one.save_account(account)
        await two.delete_account(account.id)
        written = await one.update_account(account.id, {"access_token": "ya29.new", "refresh_token": "1//2"})
        assert written is None
        assert await one.get_account(account.id) is None
        assert await two.list_accounts() == []


async def test_token_writes_bump_the_version_and_stale_ones_are_refused(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        account = _account()
        await one.save_account(account)
        v1 = account.token_version
        v2 = await one.update_account(account.id, {"refresh_token": "1//second"}, expect_token_version=v1)
        assert v2 == v1 + 1
        # The other process refreshed from version 1 too: its write is refused, the newer token stays.
        assert (
            await two.update_account(account.id, {"refresh_token": "1//third"}, expect_token_version=v1)
            is None
        )
        stored = await two.get_account(account.id)
        assert stored is not None
        assert (stored.refresh_token, stored.token_version) == ("1//second", v2)
        # Fields without tokens leave the version alone.
        assert await two.update_account(account.id, {"label": "x"}) == v2


async def test_saving_a_whole_account_bumps_its_version_and_emails_stay_unique(
    open_store: StoreOpener,
) -> None:
    async with open_store() as store:
        account = _account()
        await store.save_account(account)
        first = account.token_version
        account.refresh_token = "1//relogin"
        await store.save_account(account)
        assert account.token_version == first + 1
        with pytest.raises(ValueError, match="ada@example.com"):
            await store.save_account(_account())  # another id, the same email
        with pytest.raises(ValueError, match="not writable"):
            await store.update_account(account.id, {"token_version": 99})


async def test_a_lease_is_exclusive_until_released_or_expired(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        assert await one.acquire_lease("refresh:a", "p1", ttl=30)
        assert not await two.acquire_lease("refresh:a", "p2", ttl=30)
        assert await two.acquire_lease("refresh:b", "p2", ttl=30)  # another name
        assert await one.acquire_lease("refresh:a", "p1", ttl=30)  # the holder renews it
        await two.release_lease("refresh:a", "p2")  # not p2's: nothing happens
        assert not await two.acquire_lease("refresh:a", "p2", ttl=30)
        await one.release_lease("refresh:a", "p1")
        assert await two.acquire_lease("refresh:a", "p2", ttl=0.2)
        # p2 dies holding it: p1 gets it once the lease has run out.
        deadline = time.monotonic() + 5
        while not await one.acquire_lease("refresh:a", "p1", ttl=30):
            assert time.monotonic() < deadline, "an expired lease was never released"


async def test_requests_in_flight_are_summed_over_the_other_live_processes(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        assert await one.publish_in_flight("w1", {"a": 2, "b": 1}, ttl=30) == {}
        assert await two.publish_in_flight("w2", {"a": 1}, ttl=0.2) == {"a": 2, "b": 1}
        assert await one.publish_in_flight("w1", {"a": 3}, ttl=30) == {"a": 1}
        # w2 stops publishing (it died): its counts expire.
        deadline = time.monotonic() + 5
        while await one.publish_in_flight("w1", {"a": 3}, ttl=30):
            assert time.monotonic() < deadline, "a dead process's requests in flight never expired"


async def test_changes_report_the_areas_written_by_any_process(open_store: StoreOpener) -> None:
    async with open_store() as one, open_store() as two:
        assert await one.changes() == {
            "accounts", "cooldowns", "bindings", "bindings_reset", "catalogs", "settings", "keys"
        }  # fmt: skip
        assert await one.changes() == set()
        account = _account()
        await two.save_account(account)
        await two.save_cooldown(Cooldown(account.id, "m", time.time() + 60, "rate_limited"))
        assert await one.changes() == {"accounts", "cooldowns"}
        await two.save_binding("conv", account.id)
        assert await one.changes() == {"bindings"}
        await two.clear_bindings(account.id)
        assert await one.changes() == {"bindings_reset"}
        await two.delete_account(account.id)
        assert {"accounts", "cooldowns", "bindings_reset", "catalogs"} <= await one.changes()
        # Leases and requests in flight are not shared state anyone reloads: no area changes.
        await two.publish_in_flight("w2", {"x": 1}, ttl=30)
        await two.acquire_lease("l", "h", ttl=30)
        assert await one.changes() == set()


async def test_bindings_can_be_read_from_a_point_in_time(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.save_binding("old", "a")
        middle = time.time()  # not before the old binding's time
        while time.time() < middle + 0.002:  # the new one is written clearly later
            pass
        await store.save_binding("new", "b")
        assert await store.list_bindings(since=middle + 0.001) == {"new": "b"}
        assert await store.list_bindings() == {"old": "a", "new": "b"}


async def test_expired_cooldowns_are_not_listed(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.save_cooldown(Cooldown("a", "m", time.time() - 1, "rate_limited"))
        await store.save_cooldown(Cooldown("a", "n", time.time() + 60, "rate_limited"))
        assert [c.model for c in await store.list_cooldowns()] == ["n"]
