"""The ``agw`` command line, driven with click's CliRunner against the emulator."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ENDPOINTS, make_account


@pytest.fixture
def runner(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    env = {
        "AGW_HOME": str(tmp_path / "home"),
        "AGW_UPSTREAM_ENDPOINTS": ",".join(emulator_server.endpoint(n) for n in ENDPOINTS),
        "AGW_OAUTH_TOKEN_URL": emulator_server.token_url,
        "AGW_OAUTH_USERINFO_URL": emulator_server.userinfo_url,
        "AGW_OAUTH_CLIENT_ID": CLIENT_ID,
        "AGW_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "AGW_ONBOARD_POLL_INTERVAL": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def test_add_list_disable_enable_remove(runner: CliRunner, emulator: Emulator, tmp_path: Path) -> None:
    emulator.add_account(make_account("alice@example.com", onboarded=False))
    added = runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"])
    assert added.exit_code == 0, added.output
    assert "alice@example.com" in added.output and "project" in added.output
    assert "1//alice" not in added.output

    listed = runner.invoke(main, ["accounts", "list", "--json"])
    (row,) = json.loads(listed.output)
    assert row["email"] == "alice@example.com" and row["status"] == "enabled" and row["project_id"]
    assert (
        "refresh_token" not in listed.output
        and "1//alice" not in listed.output
        and "ya29" not in listed.output
    )

    assert runner.invoke(main, ["accounts", "disable", "alice@example.com"]).exit_code == 0
    table = runner.invoke(main, ["accounts", "list"]).output
    assert "disabled" in table and "disabled by the user" in table
    assert runner.invoke(main, ["accounts", "enable", row["id"]]).exit_code == 0
    assert json.loads(runner.invoke(main, ["accounts", "list", "--json"]).output)[0]["status"] == "enabled"
    assert runner.invoke(main, ["accounts", "remove", "alice@example.com"]).exit_code == 0
    assert json.loads(runner.invoke(main, ["accounts", "list", "--json"]).output) == []

    db = tmp_path / "home" / "gateway.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_add_fails_with_a_clear_message_and_exit_1(runner: CliRunner, emulator: Emulator) -> None:
    result = runner.invoke(main, ["accounts", "add", "--refresh-token", "1//revoked-token"])
    assert result.exit_code == 1
    assert "invalid_grant" in result.output
    assert "Traceback" not in result.output and "1//revoked-token" not in result.output


def test_unknown_account_is_an_error(runner: CliRunner, emulator: Emulator) -> None:
    result = runner.invoke(main, ["accounts", "disable", "nobody@example.com"])
    assert result.exit_code == 1 and "no account" in result.output


def test_invalid_grant_reason_shows_in_the_list(runner: CliRunner, emulator: Emulator) -> None:
    emulator.add_account(make_account("alice@example.com"))
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 0
    emulator.revoke("1//alice")
    # Re-adding the revoked token fails and leaves the stored account untouched.
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 1
