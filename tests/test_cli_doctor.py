"""``agw doctor`` from the command line, against the emulator: one test for each ✗ it can report.

The checks themselves are tested one by one in tests/test_diagnosis.py; here, what the user sees: the
lines, the fix under each ✗, ``--json``, the exit status, that nothing is created and nothing secret is
printed.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from antigravity_gateway import diagnosis
from antigravity_gateway.accounts.profiles import ANTIGRAVITY
from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer, Fault
from antigravity_gateway.emulator.catalog import DEFAULT_MODELS
from tests.conftest import (
    CLIENT_SECRET,
    GatewayFactory,
    emulator_env,
    free_port,
    make_account,
)


@pytest.fixture
def runner(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    env = {
        **emulator_env(emulator_server, tmp_path / "home"),
        "AGW_PORT": str(free_port()),  # not 8045: another gateway may run on this machine
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def _add(runner: CliRunner, emulator: Emulator, email: str, **kwargs: Any) -> None:
    emulator.add_account(make_account(email, **kwargs))
    local = email.split("@")[0]
    added = runner.invoke(main, ["accounts", "add", "--refresh-token", f"1//{local}"])
    assert added.exit_code == 0, added.output


def _doctor(runner: CliRunner) -> tuple[Result, dict[str, dict[str, str]]]:
    """Runs ``agw doctor --json``; returns the result and the checks by name."""
    result = runner.invoke(main, ["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    return result, checks


def _assert_no_secrets(text: str) -> None:
    assert "1//" not in text and "ya29" not in text and CLIENT_SECRET not in text
    assert "GOCSPX" not in text  # the built-in clients' secrets


def test_all_well_exits_0_with_a_line_per_check(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("python", "home", "config", "port", "auth", "clock", "client version"):
        assert any(line.startswith(f"✓ {name}: ") for line in lines), (name, result.output)
    for profile in ("primary", "antigravity", "gemini-cli"):
        assert any(line.startswith(f"✓ oauth client {profile}: ") for line in lines), result.output
    (account,) = [line for line in lines if line.startswith("✓ account alice@example.com: ")]
    assert "token refreshed (client primary)" in account and "email matches" in account
    assert "project emu-project-" in account and "countTokens on gemini-2.5-flash: " in account
    assert "quota left on" in account
    assert "fix:" not in result.output and lines[-1].endswith("0 failed")
    _assert_no_secrets(result.output)


def test_json_output(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    result = runner.invoke(main, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in data["checks"])
    assert {c["status"] for c in data["checks"]} == {"ok"}
    _assert_no_secrets(result.output)


def test_no_accounts_fails_and_creates_nothing(runner: CliRunner, emulator: Emulator, tmp_path: Path) -> None:
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "✗ accounts: no accounts yet" in result.output
    assert "    fix: add one: `agw accounts login`" in result.output
    assert "! client version: not checked" in result.output
    assert not (tmp_path / "home").exists()


def test_revoked_refresh_token(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    emulator.revoke("1//alice")
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account alice@example.com"]
    assert check["status"] == "fail" and "invalid_grant" in check["detail"]
    assert "agw accounts login --login-hint alice@example.com" in check["fix"]
    _assert_no_secrets(result.output)
    # the gateway would have done the same: the account is set aside until it is logged in again
    listed = json.loads(runner.invoke(main, ["accounts", "list", "--json"]).output)
    assert listed[0]["status"] == "invalid_grant"
    again, checks = _doctor(runner)
    assert again.exit_code == 1 and "refresh token refused" in checks["account alice@example.com"]["detail"]


def test_account_waiting_for_verification(runner: CliRunner, emulator: Emulator) -> None:
    emulator.add_account(make_account("val@example.com", onboarded=False, validation_required=True))
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//val"]).exit_code == 1
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account val@example.com"]
    assert check["status"] == "fail" and "verified" in check["detail"]
    assert check["fix"].startswith("open https://") and "agw accounts enable val@example.com" in check["fix"]


def test_disabled_account_is_a_warning(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    _add(runner, emulator, "bob@example.com")
    assert runner.invoke(main, ["accounts", "disable", "bob@example.com"]).exit_code == 0
    result, checks = _doctor(runner)
    assert result.exit_code == 0, result.output
    assert checks["account bob@example.com"]["status"] == "warn"
    assert "agw accounts enable bob@example.com" in checks["account bob@example.com"]["fix"]
    assert checks["account alice@example.com"]["status"] == "ok"


def test_count_tokens_refused_records_no_cooldown(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    emulator.add_fault(Fault(endpoint=None, method="countTokens", status=429, times=None))
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account alice@example.com"]
    assert check["status"] == "fail" and check["detail"].startswith("countTokens: Google answered 429")
    assert "rate limited" in check["fix"]
    assert runner.invoke(main, ["cooldowns", "list"]).output.strip() == "no account is cooling down"
    listed = json.loads(runner.invoke(main, ["accounts", "list", "--json"]).output)
    assert listed[0]["status"] == "enabled"


def test_no_quota_left_is_a_warning(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com", quota_requests=dict.fromkeys(DEFAULT_MODELS, 0))
    result, checks = _doctor(runner)
    check = checks["account alice@example.com"]
    assert check["status"] == "warn" and "no quota left on any of its" in check["detail"]
    assert result.exit_code == 0


def test_unknown_oauth_client(runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_OAUTH_CLIENT_SECRET", "not-the-secret")
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith("✗ oauth client primary: "))
    assert "401 invalid_client" in line and "not-the-secret" not in result.output
    assert "✓ oauth client antigravity: " in result.output


def test_token_endpoint_unreachable(
    runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGW_OAUTH_TOKEN_URL", f"http://127.0.0.1:{free_port()}/token")
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "✗ oauth client antigravity: the token endpoint cannot be reached" in result.output
    assert "! clock: not checked" in result.output


def test_skewed_clock(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    emulator.clock_skew = -600.0  # Google's clock 10 minutes behind: ours 10 minutes ahead
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    assert checks["clock"]["status"] == "fail" and checks["clock"]["detail"].startswith("600 s ahead of")
    assert "NTP" in checks["clock"]["fix"]
    emulator.clock_skew = 60.0
    result, checks = _doctor(runner)
    assert result.exit_code == 0 and checks["clock"]["status"] == "warn"
    assert checks["clock"]["detail"].startswith("60 s behind")


def test_client_too_old(runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(runner, emulator, "alice@example.com")
    emulator.min_client_version = (99, 0, 0)
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    assert checks["client version"]["status"] == "fail"
    assert "antigravity/2.9.1 linux/amd64" in checks["client version"]["detail"]
    assert "upstream_user_agent" in checks["client version"]["fix"]
    assert checks["account alice@example.com"]["fix"] == "see the client version check"
    monkeypatch.setenv("AGW_UPSTREAM_USER_AGENT", "antigravity/99.0.0 linux/amd64")
    result, checks = _doctor(runner)
    assert result.exit_code == 0, result.output
    assert checks["client version"]["status"] == "ok"


def test_config_that_does_not_parse(runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("port = [unclosed\n")
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "✗ config: the settings cannot be loaded" in result.output
    assert f"    fix: edit {home / 'config.toml'}" in result.output
    assert "Traceback" not in result.output


def test_config_with_a_wrong_value(runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text('scheduling_mode = "fastest"\nportt = 1\n')
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1 and "✗ config: " in result.output and "scheduling_mode" in result.output


def test_port_held_by_another_program(
    runner: CliRunner, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGW_PORT", emulator_server.url.rsplit(":", 1)[1])
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "is in use by another program (not an Antigravity Gateway)" in result.output
    assert "fix: stop that program, or give the gateway another port" in result.output


def test_port_held_by_a_gateway(
    runner: CliRunner, gateway_factory: GatewayFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory(accounts=[])
    monkeypatch.setenv("AGW_PORT", gateway.url.rsplit(":", 1)[1])
    result, checks = _doctor(runner)
    assert checks["port"]["status"] == "ok" and "held by Antigravity Gateway" in checks["port"]["detail"]


def test_port_bound_but_not_listening(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AGW_PORT", str(holder.getsockname()[1]))
        result, checks = _doctor(runner)
    assert checks["port"]["status"] == "fail" and "is in use" in checks["port"]["detail"]


def test_exposed_without_a_key(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_ALLOW_LAN", "true")
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    assert checks["auth"]["status"] == "fail" and "reachable from the network" in checks["auth"]["detail"]
    assert "api_key" in checks["auth"]["fix"]


def test_database_encrypted_with_another_key(
    runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGW_SECRET_KEY", "a long and random passphrase 7f3c")
    _add(runner, emulator, "alice@example.com")
    monkeypatch.setenv("AGW_SECRET_KEY", "the wrong passphrase")
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    assert checks["database"]["status"] == "fail" and "AGW_SECRET_KEY" in checks["database"]["fix"]
    assert (
        "accounts" not in checks and "7f3c" not in result.output and "wrong passphrase" not in result.output
    )


def test_google_too_slow(runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(runner, emulator, "alice@example.com")
    monkeypatch.setattr(diagnosis, "CHECK_TIMEOUT", 0.3)
    emulator.add_fault(Fault(method="countTokens", first_byte_delay=1.0))
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account alice@example.com"]
    assert check["status"] == "fail" and check["detail"] == "no answer within 0.3 s"
    assert "check the network" in check["fix"]


def test_a_check_that_breaks_is_one_failed_line(
    runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(runner, emulator, "alice@example.com")

    def broken(quota: dict[str, Any]) -> str:
        raise KeyError("id")

    monkeypatch.setattr(diagnosis, "_probe_model", broken)
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    assert checks["account alice@example.com"]["detail"] == "the check itself failed (KeyError)"
    assert checks["clock"]["status"] == "ok"


def _edit_account(tmp_path: Path, sql: str) -> None:
    with sqlite3.connect(tmp_path / "home" / "gateway.db") as db:
        db.execute(sql)


def test_token_of_another_email(runner: CliRunner, emulator: Emulator, tmp_path: Path) -> None:
    _add(runner, emulator, "alice@example.com")
    _edit_account(tmp_path, "UPDATE accounts SET email = 'carol@example.com'")
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account carol@example.com"]
    assert (
        check["status"] == "fail"
        and check["detail"] == "the token belongs to 'alice@example.com', not to this account"
    )
    assert "agw accounts remove carol@example.com" in check["fix"]


def test_no_project(runner: CliRunner, emulator: Emulator, tmp_path: Path) -> None:
    _add(runner, emulator, "alice@example.com")
    _edit_account(tmp_path, "UPDATE accounts SET project_id = ''")
    emulator.add_fault(
        Fault(method="loadCodeAssist", status=200, body={"currentTier": {"id": "standard-tier"}})
    )
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account alice@example.com"]
    assert check["status"] == "fail" and check["detail"].startswith(
        "project: the account has the tier standard-tier"
    )
    assert "Gemini Code Assist" in check["fix"]


def test_quota_cannot_be_fetched(runner: CliRunner, emulator: Emulator) -> None:
    _add(runner, emulator, "alice@example.com")
    emulator.add_fault(Fault(method="fetchAvailableModels", status=403, times=None))
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks["account alice@example.com"]
    assert check["status"] == "fail" and check["detail"].startswith("quota: Google answered 403")
    assert "may use Gemini Code Assist" in check["fix"]


def test_a_refused_builtin_client_matters_only_when_accounts_use_it(
    runner: CliRunner, emulator: Emulator
) -> None:
    _add(runner, emulator, "alice@example.com")
    with emulator.lock:
        del emulator.clients[ANTIGRAVITY.client_id]
    result, checks = _doctor(runner)
    assert result.exit_code == 0, result.output  # alice uses the primary client
    assert checks["oauth client antigravity"]["status"] == "warn"
    assert "401 invalid_client" in checks["oauth client antigravity"]["detail"]
    assert checks["oauth client gemini-cli"]["status"] == "ok"


def test_a_dead_proxy_is_a_cross_and_a_live_one_a_tick(
    runner: CliRunner, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.upstream.proxy_server import PASSWORD, ProxyServer

    _add(runner, emulator, "alice@example.com")
    live = ProxyServer(tmp_path, "socks5", f"agw:{PASSWORD}").start()
    try:
        dead = f"http://agw:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
        monkeypatch.setenv("AGW_UPSTREAM_PROXIES", f"{live.url()},{dead}")
        result = runner.invoke(main, ["doctor"])
        assert result.exit_code == 1, result.output
        assert PASSWORD not in result.output  # both shown redacted
        (good,) = [line for line in result.output.splitlines() if line.startswith("✓ proxy socks5://")]
        assert "reaches Google" in good
        (bad,) = [line for line in result.output.splitlines() if line.startswith("✗ proxy http://agw:***@")]
        assert "does not carry requests" in bad
        assert "fix: check the proxy's address" in result.output
        assert live.text().count("socks5") >= 1  # the check went through the live proxy itself
    finally:
        live.stop()


def test_an_accounts_own_proxy_is_checked_and_named(
    runner: CliRunner, emulator: Emulator, tmp_path: Path
) -> None:

    _add(runner, emulator, "alice@example.com")
    dead = f"socks5://127.0.0.1:{free_port()}"
    assert runner.invoke(main, ["accounts", "proxy", "alice@example.com", dead]).exit_code == 0
    result, checks = _doctor(runner)
    assert result.exit_code == 1
    check = checks[f"proxy {dead}"]
    assert check["status"] == "fail" and "own proxy of alice@example.com" in check["detail"]
    assert "agw accounts proxy EMAIL" in check["fix"]
