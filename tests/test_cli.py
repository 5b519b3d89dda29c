"""The ``agw`` command line, driven with click's CliRunner against the emulator."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from tests.conftest import GatewayFactory, emulator_env, make_account


@pytest.fixture
def runner(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in emulator_env(emulator_server, tmp_path / "home").items():
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


# -- login, import/export, quota, labels ------------------------------------------------------------


def _login_process(runner_env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "accounts", "login", "--no-browser", *extra],
        env={**os.environ, **runner_env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _consent_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().startswith("http"):
            return line.strip()
    raise AssertionError("no URL printed: " + (process.stderr.read() if process.stderr else ""))


@pytest.fixture
def cli_env(runner: CliRunner) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AGW_")}


def test_login_with_the_loopback_redirect(cli_env: dict[str, str], emulator: Emulator) -> None:
    emulator.add_account(make_account("dave@example.com"))
    process = _login_process(cli_env, "--login-hint", "dave@example.com")
    url = _consent_url(process)
    query = parse_qs(urlparse(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"][0].startswith(
        "http://127.0.0.1:"
    )
    done = httpx.get(url, follow_redirects=True)  # the browser: consent, then back to the CLI's listener
    assert "You can close this tab" in done.text
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "added dave@example.com" in out


def test_login_by_pasting_the_redirected_url(cli_env: dict[str, str], emulator: Emulator) -> None:
    emulator.add_account(make_account("erin@example.com"))
    process = _login_process(cli_env, "--login-hint", "erin@example.com")
    url = _consent_url(process)
    redirected = httpx.get(url, follow_redirects=False).headers["location"]
    out, err = process.communicate(redirected + "\n", timeout=30)
    assert process.returncode == 0, err
    assert "added erin@example.com" in out


def test_login_rejects_a_wrong_state(cli_env: dict[str, str], emulator: Emulator) -> None:
    emulator.add_account(make_account("erin@example.com"))
    process = _login_process(cli_env)
    url = _consent_url(process)
    redirected = httpx.get(url, follow_redirects=False).headers["location"].replace("state=", "state=forged")
    out, err = process.communicate(redirected + "\n", timeout=30)
    assert process.returncode == 1 and "state" in err


def test_import_export_label_priority_quota(runner: CliRunner, emulator: Emulator, tmp_path: Path) -> None:
    for name in ("alice", "bob"):
        emulator.add_account(make_account(f"{name}@example.com", quota_requests={"gemini-2.5-flash": 4}))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# my accounts\n1//alice\n1//nobody\n\n1//bob\n")
    result = runner.invoke(main, ["accounts", "import", str(tokens)])
    assert result.exit_code == 1  # one line failed
    assert "line 2: added alice@example.com" in result.output
    assert "line 3: failed" in result.output and "invalid_grant" in result.output
    assert "line 5: added bob@example.com" in result.output
    assert "2 added, 0 updated, 0 skipped, 1 failed" in result.output

    exported = tmp_path / "export.json"
    result = runner.invoke(main, ["accounts", "export", "--output", str(exported)])
    assert result.exit_code == 0 and "refresh tokens" in result.output
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    rows = json.loads(exported.read_text())
    assert {r["email"] for r in rows} == {"alice@example.com", "bob@example.com"}
    again = runner.invoke(main, ["accounts", "import", str(exported)])
    assert again.exit_code == 0 and again.output.count(": updated") == 2
    assert "0 added, 2 updated, 0 skipped, 0 failed" in again.output

    assert runner.invoke(main, ["accounts", "label", "alice@example.com", "work"]).exit_code == 0
    assert runner.invoke(main, ["accounts", "priority", "alice@example.com", "3"]).exit_code == 0
    (alice,) = [
        a
        for a in json.loads(runner.invoke(main, ["accounts", "list", "--json"]).output)
        if a["email"].startswith("alice")
    ]
    assert (alice["label"], alice["priority"]) == ("work", 3)

    quota = runner.invoke(main, ["accounts", "quota"])
    assert quota.exit_code == 0, quota.output
    assert (
        "alice@example.com" in quota.output
        and "gemini-2.5-flash" in quota.output
        and "100.0%" in quota.output
    )
    assert "5-hour" in quota.output and "resets" in quota.output


def test_logs_stats_and_config_against_a_running_gateway(
    runner: CliRunner, emulator: Emulator, gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory([make_account("alice@example.com"), make_account("bob@example.com")])
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    http = gateway.http()
    body = {"contents": [{"parts": [{"text": "a question for the log"}]}]}
    assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).status_code == 200
    assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", content=b"{").status_code == 400
    _wait_for(lambda: len(runner.invoke(main, ["logs", "tail", "--json"]).output.splitlines()) == 2)
    tail = runner.invoke(main, ["logs", "tail"]).output.splitlines()
    assert " 200 gemini " in tail[0] and "gemini-2.5-flash" in tail[0] and "@example.com" in tail[0]
    assert " 400 " in tail[1] and "Invalid JSON" in tail[1]
    stats = runner.invoke(main, ["stats", "--by", "account"]).output
    assert "@example.com" in stats and "total: 2 requests, 1 errors" in stats

    # A setting saved from the CLI reaches the running gateway.
    assert runner.invoke(main, ["config", "set", "scheduling_mode", "performance"]).exit_code == 0
    _wait_for(lambda: gateway.state.settings.scheduling_mode == "performance")
    bad = runner.invoke(main, ["config", "set", "scheduling_mode", "chaos"])
    assert bad.exit_code == 1 and "scheduling_mode" in bad.output
    shown = runner.invoke(main, ["config", "show"]).output
    assert 'scheduling_mode = "performance"' in shown

    # Cooldowns cleared from the CLI are forgotten by the running gateway.
    gateway.emulator.add_fault(Fault.quota_exhausted(reset_seconds=3600))
    assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).status_code == 200
    (victim,) = [r.account_email for r in gateway.emulator.requests if r.status == 429]
    _wait_for(lambda: victim in runner.invoke(main, ["cooldowns", "list"]).output)
    assert "cooling down for gemini-2.5-flash" in runner.invoke(main, ["accounts", "list"]).output
    assert runner.invoke(main, ["cooldowns", "clear", victim]).exit_code == 0
    _wait_for(lambda: not gateway.state.scheduler.cooldowns)
    assert runner.invoke(main, ["bindings", "clear"]).exit_code == 0


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition that another process makes true (the gateway syncs every 2 s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_export_needs_the_admin_password_when_one_is_set(
    runner: CliRunner, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_account(make_account("alice@example.com"))
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 0
    home = Path(os.environ["AGW_HOME"])
    (home / "config.toml").write_text('admin_password = "pw-export-1"\n')
    wrong = runner.invoke(main, ["accounts", "export"], input="guess\n")
    assert wrong.exit_code == 1 and "wrong admin password" in wrong.output
    assert "1//alice" not in wrong.output
    right = runner.invoke(main, ["accounts", "export"], input="pw-export-1\n")
    assert right.exit_code == 0 and "1//alice" in right.output
    monkeypatch.setenv("AGW_ADMIN_PASSWORD", "pw-export-1")  # given in the environment: already known
    assert "1//alice" in runner.invoke(main, ["accounts", "export"]).output
