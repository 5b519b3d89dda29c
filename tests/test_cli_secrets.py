"""``agw secrets`` and the secret key seen from the user's side: the gateway works the same with
encrypted tokens, and a missing or wrong key is one readable line, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.store.crypto import PREFIX
from tests.conftest import GatewayFactory, emulator_env, make_account

KEY = "a long and random passphrase 7f3c"


@pytest.fixture
def runner(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in emulator_env(emulator_server, tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def _tokens(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [t for row in conn.execute("SELECT refresh_token, access_token FROM accounts") for t in row]


def test_encrypt_then_decrypt_from_the_command_line(
    runner: CliRunner, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "home" / "gateway.db"
    emulator.add_account(make_account("alice@example.com"))
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 0
    assert "1//alice" in _tokens(db)

    no_key = runner.invoke(main, ["secrets", "encrypt"])
    assert no_key.exit_code == 1 and "AGW_SECRET_KEY is not set" in no_key.output

    monkeypatch.setenv("AGW_SECRET_KEY", KEY)
    encrypted = runner.invoke(main, ["secrets", "encrypt"])
    assert encrypted.exit_code == 0, encrypted.output
    assert "1 account(s)" in encrypted.output and KEY not in encrypted.output
    assert all(t.startswith(PREFIX) for t in _tokens(db) if t)
    listed = runner.invoke(main, ["accounts", "list", "--json"])  # nothing else changes for the user
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["email"] == "alice@example.com"

    monkeypatch.delenv("AGW_SECRET_KEY")
    refused = runner.invoke(main, ["accounts", "list"])
    assert refused.exit_code == 1
    assert refused.output.startswith("error: ") and "AGW_SECRET_KEY" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and refused.exception is not None
    assert isinstance(refused.exception, SystemExit)  # a clean exit, not an exception escaping

    monkeypatch.setenv("AGW_SECRET_KEY", "the wrong passphrase")
    wrong = runner.invoke(main, ["accounts", "list"])
    assert wrong.exit_code == 1 and "AGW_SECRET_KEY is not the key" in wrong.output
    assert "the wrong passphrase" not in wrong.output

    monkeypatch.setenv("AGW_SECRET_KEY", KEY)
    decrypted = runner.invoke(main, ["secrets", "decrypt"])
    assert decrypted.exit_code == 0 and "remove AGW_SECRET_KEY" in decrypted.output
    monkeypatch.delenv("AGW_SECRET_KEY")
    assert "1//alice" in _tokens(db)
    assert runner.invoke(main, ["accounts", "list"]).exit_code == 0


def test_the_key_is_not_saved_to_config_toml_and_is_masked(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = runner.invoke(main, ["config", "set", "secret_key", KEY])
    assert refused.exit_code == 1 and "AGW_SECRET_KEY" in refused.output and KEY not in refused.output
    assert not (tmp_path / "home" / "config.toml").exists()
    monkeypatch.setenv("AGW_SECRET_KEY", KEY)
    shown = runner.invoke(main, ["config", "show"]).output
    assert 'secret_key = "<set>"' in shown and KEY not in shown


def test_a_gateway_with_a_key_serves_and_saves_rotated_tokens_encrypted(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory([make_account("alice@example.com", rotate_refresh_token=True)], secret_key=KEY)
    gateway.emulator.expire_access_tokens()  # 401, forced refresh, a rotated refresh token saved
    body = {"contents": [{"parts": [{"text": "hello"}]}]}
    http = gateway.http()
    assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).status_code == 200
    (account,) = gateway.state.pool.accounts.values()
    assert account.refresh_token != "1//alice" and account.access_token
    tokens = _tokens(gateway.settings.db_path)
    assert tokens and all(t.startswith(PREFIX) for t in tokens)
    data = b"".join(p.read_bytes() for p in gateway.settings.home.glob("gateway.db*"))
    assert account.refresh_token.encode() not in data and account.access_token.encode() not in data
    assert gateway.state.pool.store.encrypted


def test_serve_without_the_key_is_one_line_not_a_traceback(
    runner: CliRunner, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_account(make_account("alice@example.com"))
    monkeypatch.setenv("AGW_SECRET_KEY", KEY)
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "AGW_SECRET_KEY"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "AGW_SECRET_KEY" in line
