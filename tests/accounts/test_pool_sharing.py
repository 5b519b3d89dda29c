"""Two account pools on one store, as two processes sharing an AGW_HOME: field-level writes (a removal
or a label is never undone), single-flight refreshes across processes, and a crashed lease holder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway.accounts import pool as pool_module
from antigravity_gateway.accounts.oauth import Grant
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from antigravity_gateway.errors import NotFound, UpstreamUnavailable
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import add_accounts, make_account, make_settings


@contextlib.asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[AccountPool]:
    """One process's pool: its own store connection and HTTP session."""
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        yield pool


@pytest.fixture
def settings(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> Settings:
    emulator.add_account(make_account("alice@example.com", rotate_refresh_token=True))
    settings = make_settings(tmp_path, emulator_server)
    asyncio.run(add_accounts(settings, ["1//alice"], catalogs=False))
    emulator.clear_requests()
    return settings


def _token_calls(emulator: Emulator) -> list[str]:
    return [r.body["refresh_token"] for r in emulator.requests if r.method == "token"]


async def test_a_removal_during_a_slow_refresh_stays_a_removal(
    settings: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's case: `agw accounts remove` ran while a refresh took 4 s, and when the refresh
    finished the account was back."""
    async with process(settings) as serving, process(settings) as cli:
        (account,) = serving.accounts.values()
        answered, go_on = asyncio.Event(), asyncio.Event()
        refresh = serving.oauth.refresh

        async def slow_refresh(*args: Any, **kwargs: Any) -> Grant:
            grant = await refresh(*args, **kwargs)  # Google has answered...
            answered.set()
            await go_on.wait()  # ... and the answer is slow to be written
            return grant

        monkeypatch.setattr(serving.oauth, "refresh", slow_refresh)
        refreshing = asyncio.create_task(serving.access_token(account, stale=account.access_token))
        await answered.wait()
        await cli.remove(cli.find("alice@example.com"))
        go_on.set()
        with pytest.raises(NotFound):
            await refreshing
        assert serving.accounts == {}
        assert await cli.store.list_accounts() == []


async def test_a_label_written_elsewhere_survives_a_refresh_here(
    settings: Settings, emulator: Emulator
) -> None:
    async with process(settings) as serving, process(settings) as cli:
        (account,) = serving.accounts.values()
        first = account.refresh_token
        await cli.update(cli.find("alice@example.com"), label="team-a", priority=3)
        await serving.access_token(account, stale=account.access_token)  # writes the new tokens
        await serving.set_status(account, "disabled", "by the user")  # and a status
        (stored,) = await cli.store.list_accounts()
        assert (stored.label, stored.priority, stored.status) == ("team-a", 3, "disabled")
        assert stored.refresh_token == account.refresh_token  # the rotated one
        assert _token_calls(emulator) == [first]


async def test_concurrent_refreshes_in_two_processes_send_the_refresh_token_once(
    settings: Settings, emulator: Emulator
) -> None:
    emulator.add_fault(Fault.slow_first_byte(0.3, endpoint="oauth", method="token"))
    async with process(settings) as one, process(settings) as two:
        a1, a2 = one.find("alice@example.com"), two.find("alice@example.com")
        stale, first = a1.access_token, a1.refresh_token
        t1, t2 = await asyncio.gather(one.access_token(a1, stale=stale), two.access_token(a2, stale=stale))
        assert t1 == t2 != stale  # the second process took the first one's token from the store
        assert _token_calls(emulator) == [first]
        assert a1.refresh_token == a2.refresh_token != first
        # Later refreshes use the rotated token, in whichever process: never the replaced one.
        t3 = await two.access_token(a2, stale=t2)
        assert await one.access_token(a1, stale=t2) == t3  # refreshed by the other process meanwhile
        assert len(_token_calls(emulator)) == 2
        await one.access_token(a1, stale=t3)
        calls = _token_calls(emulator)
        assert len(calls) == len(set(calls)) == 3, calls
        assert a1.status == a2.status == "enabled"


async def test_a_crashed_lease_holder_delays_a_refresh_only_until_its_lease_expires(
    settings: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "REFRESH_LEASE_TTL", 0.5)
    async with process(settings) as survivor:
        account = survivor.find("alice@example.com")
        first = account.refresh_token
        # A process took the lease and died without releasing it.
        assert await survivor.store.acquire_lease(f"refresh:{account.id}", "dead-process", 0.5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        token = await survivor.access_token(account, stale=account.access_token)
        waited = loop.time() - started
        assert token == account.access_token and 0.3 <= waited < 3.0, waited
        assert _token_calls(emulator) == [first]


async def test_a_refused_refresh_token_replaced_meanwhile_does_not_disable_the_account(
    settings: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user adds the account again (a new refresh token; Google revokes the old one on rotation) while
    a refresh with the old token is on its way: the refusal is not the account's fault."""
    async with process(settings) as serving, process(settings) as cli:
        account = serving.find("alice@example.com")
        old, stale = account.refresh_token, account.access_token
        refresh = serving.oauth.refresh

        async def relogin_first(token: str, *args: Any, **kwargs: Any) -> Grant:
            if token == old:
                await cli.add(old)  # rotates: Google forgets `old`, the store gets the new token
            return await refresh(token, *args, **kwargs)

        monkeypatch.setattr(serving.oauth, "refresh", relogin_first)
        token = await serving.access_token(account, stale=stale)
        assert token != stale and account.status == "enabled"
        refused = [r for r in emulator.requests if r.method == "token" and r.body["refresh_token"] == old]
        assert [r.status for r in refused] == [200, 400]  # the re-add's refresh, then this one's: refused
        (stored,) = await cli.store.list_accounts()
        assert stored.status == "enabled" and stored.refresh_token == account.refresh_token != old


async def test_a_token_endpoint_that_does_not_answer_is_a_504_and_frees_the_lease(
    settings: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "REFRESH_TIMEOUT", 0.2)
    emulator.add_fault(Fault.slow_first_byte(2.0, endpoint="oauth", method="token"))
    async with process(settings) as one, process(settings) as two:
        account = one.find("alice@example.com")
        with pytest.raises(UpstreamUnavailable, match="did not answer") as raised:
            await one.access_token(account, stale=account.access_token)
        assert raised.value.status == 504
        # The lease went with the failure: another process may refresh at once.
        assert await two.store.acquire_lease(f"refresh:{account.id}", two.holder, 30)
