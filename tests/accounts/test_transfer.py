"""Planning an import (merging entries of one account) and the order in which it writes things."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway.accounts.imports import ImportItem, ImportSkip, ReadResult, read_paths
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.transfer import ImportResult, import_accounts, plan_import
from antigravity_gateway.config_file import read_config
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.settings import OAuthClient
from antigravity_gateway.store.sqlite import store_for
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import make_account, make_settings

SAMPLES = Path(__file__).parent / "samples"


def test_entries_of_one_account_are_grouped_newest_first_in_file_order() -> None:
    read = ReadResult(
        [
            ImportItem("a.json", 1, "1//old", email="Ana@example.com", issued_at=100),
            ImportSkip("gemini-x.json", 0, "a CLIProxyAPI 'gemini' file"),
            ImportItem("tokens.txt", 3, "1//bob"),
            ImportItem("b.json", 1, "1//new", email="ana@example.com", issued_at=200),
            ImportItem("tokens.txt", 7, "1//bob"),  # the same token again, no email: same account
            ImportItem("c.json", 2, "", email="carl@example.com"),
        ]
    )
    plan = plan_import(read)
    assert len(plan.steps) == 4 and plan.total == 4
    ana, skipped, bob, carl = plan.steps
    assert isinstance(ana, list) and [i.refresh_token for i in ana] == ["1//new", "1//old"]
    assert isinstance(skipped, ImportResult) and skipped.action == "skipped"
    assert isinstance(bob, list) and [i.line for i in bob] == [3, 7]
    assert isinstance(carl, ImportResult) and (carl.action, carl.reason) == (
        "failed",
        "no refresh_token in this entry",
    )


def test_the_new_client_is_in_config_toml_before_its_first_account_is_stored(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import interrupted right after an account of a gcli2api client was stored still leaves the
    client in config.toml: the account refreshes after a restart."""
    emulator.add_client("gcli2api-test.apps.example", "GOCSPX-gcli2api-sample-secret")
    emulator.add_account(make_account("eve@example.com", client_id="gcli2api-test.apps.example"))
    settings = make_settings(tmp_path / "home", emulator_server)
    plan = plan_import(read_paths([SAMPLES / "gcli2api" / "eve@example.com.json"]))
    seen: list[Any] = []
    real_add = AccountPool.add

    async def add(self: AccountPool, token: str, **kwargs: Any) -> Any:
        seen.append(read_config(settings.home / "config.toml").get("oauth_clients"))
        return await real_add(self, token, **kwargs)

    monkeypatch.setattr(AccountPool, "add", add)

    async def run() -> list[ImportResult]:
        async with store_for(settings) as store, UpstreamClient(settings) as http:
            pool = AccountPool(settings, store, http)
            await pool.load()
            return [r async for r in import_accounts(pool, plan, settings=settings)]

    (result,) = asyncio.run(run())
    assert result.action == "added"
    assert seen == [
        [
            {
                "id": "gcli2api-test.apps.example",
                "secret": "GOCSPX-gcli2api-sample-secret",
                "label": plan.clients[0].label,
            }
        ]
    ]
    assert settings.oauth_clients[-1] == OAuthClient(
        id="gcli2api-test.apps.example", secret="GOCSPX-gcli2api-sample-secret", label=plan.clients[0].label
    )
