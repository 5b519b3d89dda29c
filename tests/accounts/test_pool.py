"""Adding accounts: refresh, email, project discovery and onboarding, OAuth client fallback."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.errors import InvalidGrant, ValidationRequired
from antigravity_gateway.settings import OAuthClient, Settings
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import CLIENT_ID, make_account, make_settings


async def _add(settings: Settings, token: str) -> AccountPool:
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        await pool.add(token)
        await pool.load()
        return pool


def test_onboarded_account_gets_email_project_and_tier(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("alice@example.com", project="alice-project", tier="standard-tier"))
    pool = asyncio.run(_add(make_settings(tmp_path, emulator_server), "1//alice"))
    (account,) = pool.accounts.values()
    assert account.email == "alice@example.com"
    assert account.project_id == "alice-project" and account.tier_id == "standard-tier"
    assert account.oauth_client_id == CLIENT_ID
    assert [r.method for r in emulator.requests if r.endpoint != "oauth"] == ["loadCodeAssist"]


def test_new_account_is_onboarded_to_the_free_tier_without_a_project(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.onboard_polls = 2
    emulator.add_account(make_account("new@example.com", onboarded=False))
    pool = asyncio.run(_add(make_settings(tmp_path, emulator_server), "1//new"))
    (account,) = pool.accounts.values()
    assert account.project_id and account.tier_id == "free-tier"
    onboard = [r for r in emulator.requests if r.method == "onboardUser"]
    assert len(onboard) == 1 and "cloudaicompanionProject" not in onboard[0].body
    assert len([r for r in emulator.requests if r.method == "operation"]) == 3  # 2 x "not done", then done


def test_adding_the_same_email_twice_updates_instead_of_duplicating(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("alice@example.com"))
    settings = make_settings(tmp_path, emulator_server)
    asyncio.run(_add(settings, "1//alice"))
    pool = asyncio.run(_add(settings, "1//alice"))
    assert len(pool.accounts) == 1


def test_oauth_clients_are_tried_in_turn(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_client("other-client", "other-secret")
    emulator.add_account(make_account("carol@example.com", client_id="other-client"))
    settings = make_settings(
        tmp_path,
        emulator_server,
        oauth_clients=[
            OAuthClient(id="unknown-client", secret="x"),
            OAuthClient(id="other-client", secret="other-secret"),
        ],
    )
    pool = asyncio.run(_add(settings, "1//carol"))
    (account,) = pool.accounts.values()
    assert account.oauth_client_id == "other-client"
    tried = [r.body["client_id"] for r in emulator.requests if r.method == "token"]
    assert tried == [CLIENT_ID, "unknown-client", "other-client"]


def test_bad_tokens_fail_clearly(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> None:
    with pytest.raises(InvalidGrant):
        asyncio.run(_add(make_settings(tmp_path, emulator_server), "1//nobody"))
    # With no client configured the built-in profiles are used, and the token is still dead.
    with pytest.raises(InvalidGrant):
        asyncio.run(_add(make_settings(tmp_path / "b", emulator_server, oauth_client_id=""), "1//nobody"))


def test_validation_required_is_stored_with_the_link(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("val@example.com", onboarded=False, validation_required=True))
    settings = make_settings(tmp_path, emulator_server)
    with pytest.raises(ValidationRequired) as caught:
        asyncio.run(_add(settings, "1//val"))
    assert caught.value.validation_url.startswith("https://")

    async def stored() -> list[str]:
        async with SQLiteStore(settings.db_path) as store:
            return [a.status for a in await store.list_accounts()]

    assert asyncio.run(stored()) == ["validation_required"]


def test_a_verification_link_that_is_not_https_is_not_stored(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from antigravity_gateway.emulator import v1internal

    monkeypatch.setattr(v1internal, "VALIDATION_URL", "javascript:alert(document.cookie)")
    emulator.add_account(make_account("val@example.com", onboarded=False, validation_required=True))
    settings = make_settings(tmp_path, emulator_server)
    with pytest.raises(ValidationRequired) as caught:
        asyncio.run(_add(settings, "1//val"))
    assert caught.value.validation_url == "javascript:alert(document.cookie)"  # what Google sent

    async def stored() -> list[tuple[str, str]]:
        async with SQLiteStore(settings.db_path) as store:
            return [(a.status, a.validation_url) for a in await store.list_accounts()]

    assert asyncio.run(stored()) == [("validation_required", "")]
    with sqlite3.connect(settings.db_path) as conn:  # not in the row either
        assert conn.execute("SELECT validation_url FROM accounts").fetchall() == [("",)]
