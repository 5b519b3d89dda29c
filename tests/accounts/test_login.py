"""Pending Google logins live in the store: bounded (the newest MAX_FLOWS), shared by the processes of
the pool (any of them can complete a login another one started), and taken exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from antigravity_gateway.accounts import login
from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, oauth_client_id="client.apps.example", oauth_client_secret="s")


def test_pending_logins_are_bounded(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    async def run() -> tuple[list[login.LoginFlow], list[str]]:
        async with SQLiteStore(settings.db_path) as store:
            flows = login.LoginFlows(OAuth(settings, UpstreamClient(settings)), store)
            started = [await flows.start("http://127.0.0.1/callback") for _ in range(login.MAX_FLOWS + 20)]
            return started, await flows.pending()

    started, pending = asyncio.run(run())
    assert len(pending) == login.MAX_FLOWS
    assert started[0].state not in pending and started[-1].state in pending


def test_a_login_started_in_one_process_completes_in_another_exactly_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    async def run() -> None:
        async with SQLiteStore(settings.db_path) as one, SQLiteStore(settings.db_path) as two:
            http = UpstreamClient(settings)
            first, second = (
                login.LoginFlows(OAuth(settings, http), one),
                login.LoginFlows(OAuth(settings, http), two),
            )
            flow = await first.start("http://127.0.0.1/callback")
            assert await second.take(flow.state) == flow
            with pytest.raises(InvalidRequest, match="unknown or expired"):
                await first.take(flow.state)
            # A bare pasted code needs exactly one pending login.
            only = await second.start("http://127.0.0.1/callback")
            assert await first.take(None) == only
            await first.start("http://127.0.0.1/a")
            await first.start("http://127.0.0.1/b")
            with pytest.raises(InvalidRequest, match="whole redirected URL"):
                await second.take(None)

    asyncio.run(run())
