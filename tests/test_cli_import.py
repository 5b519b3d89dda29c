"""``agw accounts import`` end to end: other tools' files (tests/accounts/samples/) against the emulator,
with nothing configured (the built-in OAuth client profiles), as a user moving from another tool."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from antigravity_gateway.accounts.imports import FORMATS, gcli2api_label
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.profiles import ANTIGRAVITY, GEMINI_CLI
from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.settings import load_settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.store.sqlite import store_for
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import emulator_env, make_account

SAMPLES = Path(__file__).parent / "accounts" / "samples"
GCLI2API_CLIENT = ("gcli2api-test.apps.example", "GOCSPX-gcli2api-sample-secret")
SECRETS = re.compile(r"1//\w|GOCSPX|ya29")


@pytest.fixture
def home(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home (HOME) with the gateway's data under it; Google is the emulator."""
    user_home = tmp_path / "user"
    user_home.mkdir()
    values = {
        "HOME": str(user_home),
        **emulator_env(emulator_server, user_home / ".antigravity-gateway", client=False),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ABV_DATA_DIR", raising=False)
    return user_home


def _google(emulator: Emulator, client_id: str, *names: str) -> None:
    for name in names:
        emulator.add_account(make_account(f"{name}@example.com", client_id=client_id))


def _import(*args: str) -> Result:
    return CliRunner().invoke(main, ["accounts", "import", *args])


def _accounts() -> dict[str, Account]:
    async def run() -> dict[str, Account]:
        async with store_for(load_settings()) as store:
            return {a.email: a for a in await store.list_accounts()}

    return asyncio.run(run())


def _no_secrets(result: Result) -> None:
    assert not SECRETS.search(result.output), result.output


def test_from_the_default_locations_of_three_tools(
    home: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _google(emulator, GEMINI_CLI.client_id, "gina")
    _google(emulator, ANTIGRAVITY.client_id, "ana", "ben", "cleo", "dan")
    shutil.copytree(SAMPLES / "gemini-cli", home / ".gemini")
    shutil.copytree(SAMPLES / "cli-proxy-api", home / ".cli-proxy-api")
    shutil.copytree(SAMPLES / "antigravity_tools", home / "abv-data")
    monkeypatch.setenv("ABV_DATA_DIR", str(home / "abv-data"))  # honoured over ~/.antigravity_tools

    result = _import("--from", "gemini-cli", "--from", "antigravity-tools", "--from", "cliproxyapi")
    assert result.exit_code == 0, result.output
    _no_secrets(result)
    assert "oauth_creds.json: added gina@example.com" in result.output
    assert "5b0f7c1e-2d4a-4f3b-9a8e-1c2d3e4f5a6b.json: added ana@example.com" in result.output
    assert (
        "gemini-cleo@example.com-quiet-harbor-q1w2e.json: skipped: a CLIProxyAPI 'gemini' file"
        in result.output
    )
    assert "5 added, 0 updated, 2 skipped, 0 failed" in result.output

    accounts = _accounts()
    assert set(accounts) == {f"{n}@example.com" for n in ("gina", "ana", "ben", "cleo", "dan")}
    assert accounts["gina@example.com"].oauth_client_id == GEMINI_CLI.client_id
    assert accounts["ana@example.com"].oauth_client_id == ANTIGRAVITY.client_id
    assert accounts["ana@example.com"].label == "team-a" and accounts["ana@example.com"].status == "enabled"
    ben = accounts["ben@example.com"]
    assert (ben.status, ben.status_reason) == ("disabled", "disabled by hand in Antigravity Tools")
    cleo = accounts["cleo@example.com"]
    assert (cleo.proxy_url, cleo.label) == ("socks5h://127.0.0.1:1080", "lab")
    assert cleo.project_id.startswith("emu-project-")  # what Google says during the check, not the file's
    assert accounts["dan@example.com"].status == "disabled"
    listed = json.loads(CliRunner().invoke(main, ["accounts", "list", "--json"]).output)
    assert {a["email"]: a["client"] for a in listed}["gina@example.com"] == "gemini-cli"


def test_a_missing_default_location_is_named(home: Path) -> None:
    result = _import("--from", "gemini-cli")
    assert result.exit_code == 1
    assert str(home / ".gemini" / "oauth_creds.json") in result.output and "keychain" in result.output


def test_duplicates_merge_by_email_newer_token_first_and_keep_label_proxy_disabled(
    home: Path, emulator: Emulator, tmp_path: Path
) -> None:
    _google(emulator, ANTIGRAVITY.client_id, "ana", "ben")
    runner = CliRunner()
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//ana"]).exit_code == 0
    assert runner.invoke(main, ["accounts", "label", "ana@example.com", "work"]).exit_code == 0
    assert runner.invoke(main, ["accounts", "disable", "ana@example.com"]).exit_code == 0

    newer = tmp_path / "antigravity-ana@example.com.json"
    newer.write_text(
        json.dumps(
            {
                "type": "antigravity",
                "refresh_token": "1//ana",
                "email": "ana@example.com",
                "timestamp": 1764849600000,
                "proxy_url": "http://proxy.example:3128",
            }
        )
    )
    older = tmp_path / "ana-old.json"  # Antigravity Tools' account file, with an older (revoked) token
    account = json.loads(
        (SAMPLES / "antigravity_tools/accounts/5b0f7c1e-2d4a-4f3b-9a8e-1c2d3e4f5a6b.json").read_text()
    )
    account["token"].update(refresh_token="1//ana-old", expiry_timestamp=1764000000)
    del account["custom_label"]
    older.write_text(json.dumps(account))
    # For ben the newest token is revoked: the older one of the same account is used instead.
    revoked = tmp_path / "antigravity-ben@example.com.json"
    revoked.write_text(
        json.dumps(
            {
                "type": "antigravity",
                "refresh_token": "1//ben-revoked",
                "email": "ben@example.com",
                "timestamp": 1764849600000,
            }
        )
    )
    export = SAMPLES / "antigravity_tools_export.json"  # ana and ben again, no age: oldest

    emulator.clear_requests()
    result = _import(str(older), str(export), str(newer), str(revoked))
    assert result.exit_code == 0, result.output
    _no_secrets(result)
    lines = result.output.splitlines()
    assert f"{newer}: updated ana@example.com" in lines
    assert any(
        line.startswith(f"{older}: skipped ana@example.com: duplicate of ana@example.com in {newer}")
        for line in lines
    )
    assert any(line.startswith(f"{export} line 1: skipped ana@example.com: duplicate") for line in lines)
    assert any(
        line.startswith(f"{export} line 2: added ben@example.com: the newer token failed:")
        and "invalid_grant" in line
        for line in lines
    ), result.output
    assert any(line.startswith(f"{revoked}: skipped ben@example.com: duplicate") for line in lines)
    assert "1 added, 1 updated, 3 skipped, 0 failed" in result.output
    ana = _accounts()["ana@example.com"]
    assert (ana.label, ana.proxy_url, ana.status, ana.refresh_token) == (
        "work",
        "http://proxy.example:3128",
        "disabled",
        "1//ana",
    )
    # Only the newest token of ana was checked with Google (one refresh for ana, two for ben).
    refreshes = [r for r in emulator.requests if r.path.endswith("/token")]
    assert len(refreshes) == 3


def test_gcli2api_zip_adds_a_custom_profile_that_survives_a_restart(
    home: Path, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_client(*GCLI2API_CLIENT)
    _google(emulator, GCLI2API_CLIENT[0], "eve")
    _google(emulator, GEMINI_CLI.client_id, "fay")
    archive = tmp_path / "gcli2api-creds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((SAMPLES / "gcli2api").iterdir()):
            zf.write(path, path.name)

    result = _import(str(archive))
    assert result.exit_code == 0, result.output
    _no_secrets(result)
    label = gcli2api_label(GCLI2API_CLIENT[0])
    assert f"added OAuth client {label}" in result.output and "2 added" in result.output
    config = tomllib.loads((home / ".antigravity-gateway" / "config.toml").read_text())
    assert config["oauth_clients"] == [
        {"id": GCLI2API_CLIENT[0], "secret": GCLI2API_CLIENT[1], "label": label}
    ]
    accounts = _accounts()
    assert accounts["eve@example.com"].oauth_client_id == GCLI2API_CLIENT[0]
    assert accounts["fay@example.com"].oauth_client_id == GEMINI_CLI.client_id

    # A new process (a restart) knows the profile from config.toml and refreshes eve with it.
    listed = json.loads(CliRunner().invoke(main, ["accounts", "list", "--json"]).output)
    assert {a["email"]: a["client"] for a in listed}["eve@example.com"] == label

    async def refresh_eve() -> str:
        settings = load_settings()
        async with store_for(settings) as store, UpstreamClient(settings) as http:
            pool = AccountPool(settings, store, http)
            await pool.load()
            eve = pool.find("eve@example.com")
            eve.access_token_expires_at = 0
            await pool.access_token(eve)
            return eve.oauth_client_id

    emulator.clear_requests()
    assert asyncio.run(refresh_eve()) == GCLI2API_CLIENT[0]
    (refresh,) = [r for r in emulator.requests if r.path.endswith("/token")]


def test_a_custom_client_whose_accounts_all_fail_is_not_saved(home: Path, emulator: Emulator) -> None:
    # Google does not know this client (or the token): nothing to keep.
    _google(emulator, GEMINI_CLI.client_id, "fay")
    result = _import(str(SAMPLES / "gcli2api"))
    assert result.exit_code == 1
    assert (
        "eve@example.com.json: failed" in result.output
        and "1 added, 0 updated, 0 skipped, 1 failed" in result.output
    )
    _no_secrets(result)
    config = home / ".antigravity-gateway" / "config.toml"
    assert not config.exists() or "oauth_clients" not in tomllib.loads(config.read_text())


def test_an_unreadable_file_stops_the_import_before_anything_is_written(
    home: Path, emulator: Emulator, tmp_path: Path
) -> None:
    _google(emulator, ANTIGRAVITY.client_id, "hana", "ivo")
    broken = tmp_path / "antigravity-cut.json"
    broken.write_text('{"type": "antigravity", "refresh_token": "1//hana", "email": ')
    emulator.clear_requests()
    result = _import(str(SAMPLES / "tokens.txt"), str(broken))
    assert result.exit_code == 1
    assert f"cannot import {broken}: it looks like JSON but is not valid JSON" in result.output
    assert all(f in result.output for f in FORMATS)
    _no_secrets(result)
    assert not (home / ".antigravity-gateway" / "gateway.db").exists() and emulator.requests == []


def test_partial_files_report_the_entries_they_lack(home: Path, emulator: Emulator, tmp_path: Path) -> None:
    _google(emulator, ANTIGRAVITY.client_id, "ana", "ben")
    folder = tmp_path / "abv"
    shutil.copytree(SAMPLES / "antigravity_tools", folder)
    account = folder / "accounts" / "5b0f7c1e-2d4a-4f3b-9a8e-1c2d3e4f5a6b.json"
    data = json.loads(account.read_text())
    data["token"]["refresh_token"] = ""
    account.write_text(json.dumps(data))
    result = _import(str(folder))
    assert result.exit_code == 1
    assert f"{account}: failed ana@example.com: no refresh_token in this entry" in result.output
    assert "1 added, 0 updated, 0 skipped, 1 failed" in result.output
    assert set(_accounts()) == {"ben@example.com"}


def test_dry_run_changes_nothing_and_asks_google_nothing(home: Path, emulator: Emulator) -> None:
    _google(emulator, ANTIGRAVITY.client_id, "ana", "ben", "hana")
    emulator.add_client(*GCLI2API_CLIENT)
    db = home / ".antigravity-gateway" / "gateway.db"
    first = _import("--dry-run", str(SAMPLES / "tokens.txt"), str(SAMPLES / "gcli2api"))
    assert first.exit_code == 0, first.output
    assert "line 2: would add" in first.output and "would add OAuth client gcli2api-" in first.output
    assert "dry run: nothing was changed" in first.output and not db.exists()
    _no_secrets(first)

    assert CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//ana"]).exit_code == 0
    emulator.clear_requests()
    result = _import("--dry-run", str(SAMPLES / "antigravity_tools"))
    assert result.exit_code == 0, result.output
    assert "would update ana@example.com" in result.output and "would add ben@example.com" in result.output
    assert "dry run: 1 would add, 1 would update, 0 would skip, 0 would fail" in result.output
    assert emulator.requests == [] and set(_accounts()) == {"ana@example.com"}


def test_a_gcli2api_client_already_configured_is_used_as_it_is(home: Path, emulator: Emulator) -> None:
    emulator.add_client(*GCLI2API_CLIENT)
    _google(emulator, GCLI2API_CLIENT[0], "eve")
    config = home / ".antigravity-gateway" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        f'[[oauth_clients]]\nid = "{GCLI2API_CLIENT[0]}"\nsecret = "{GCLI2API_CLIENT[1]}"\nlabel = "mine"\n'
    )
    result = _import(str(SAMPLES / "gcli2api" / "eve@example.com.json"))
    assert result.exit_code == 0, result.output
    assert "added eve@example.com" in result.output and "OAuth client" not in result.output
    assert tomllib.loads(config.read_text())["oauth_clients"] == [
        {"id": GCLI2API_CLIENT[0], "secret": GCLI2API_CLIENT[1], "label": "mine"}
    ]
    listed = json.loads(CliRunner().invoke(main, ["accounts", "list", "--json"]).output)
    assert [a["client"] for a in listed] == ["mine"]


def test_an_account_google_wants_verified_fails_with_the_link(
    home: Path, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_account(
        make_account("vera@example.com", client_id=ANTIGRAVITY.client_id, validation_required=True)
    )
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("1//vera\n")
    result = _import(str(tokens))
    assert result.exit_code == 1
    (line,) = [x for x in result.output.splitlines() if x.startswith(f"{tokens} line 1: failed")]
    assert "open https://" in line and "import or add it again" in line
    assert _accounts()["vera@example.com"].status == "validation_required"
