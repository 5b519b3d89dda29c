"""``agw accounts login|add|list`` with the built-in OAuth client profiles, nothing configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from antigravity_gateway.accounts.profiles import ANTIGRAVITY, GEMINI_CLI
from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from tests.conftest import emulator_env, make_account


@pytest.fixture
def env(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only where Google is (the emulator): no OAuth client configured."""
    values = emulator_env(emulator_server, tmp_path / "home", client=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _login(env: dict[str, str], *extra: str) -> tuple[dict[str, list[str]], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "accounts", "login", "--no-browser", *extra],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = next((line.strip() for line in process.stdout if line.strip().startswith("http")), "")
    assert url, process.stderr.read() if process.stderr else ""
    httpx.get(url, follow_redirects=True)  # the browser: consent, then back to the CLI's listener
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return parse_qs(urlparse(url).query), out


def _listed(runner: CliRunner) -> list[dict[str, object]]:
    result = runner.invoke(main, ["accounts", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_login_with_nothing_configured_uses_the_antigravity_client(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.add_account(make_account("zoe@example.com", client_id=ANTIGRAVITY.client_id))
    query, out = _login(env, "--login-hint", "zoe@example.com")
    assert query["client_id"] == [ANTIGRAVITY.client_id]
    assert query["scope"] == [" ".join(ANTIGRAVITY.scopes)]
    assert "added zoe@example.com" in out
    tried = [r.body["client_id"] for r in emulator.requests if r.method == "token"]
    assert set(tried) == {ANTIGRAVITY.client_id}  # code exchange and refresh, with that client only

    (row,) = _listed(CliRunner())
    assert row["client"] == "antigravity" and row["oauth_client_id"] == ANTIGRAVITY.client_id
    table = CliRunner().invoke(main, ["accounts", "list"]).output
    assert "CLIENT" in table and "antigravity" in table


def test_login_and_add_with_another_client(env: dict[str, str], emulator: Emulator) -> None:
    emulator.add_account(make_account("yan@example.com", client_id=ANTIGRAVITY.client_id))
    query, out = _login(env, "--client", "gemini-cli", "--login-hint", "yan@example.com")
    assert query["client_id"] == [GEMINI_CLI.client_id] and "openid" not in query["scope"][0]
    assert "added yan@example.com" in out
    (row,) = _listed(CliRunner())
    assert row["client"] == "gemini-cli"

    emulator.add_account(make_account("xia@example.com", client_id=GEMINI_CLI.client_id))
    emulator.clear_requests()
    added = CliRunner().invoke(
        main, ["accounts", "add", "--refresh-token", "1//xia", "--client", "gemini-cli"]
    )
    assert added.exit_code == 0, added.output
    assert [r.body["client_id"] for r in emulator.requests if r.method == "token"] == [GEMINI_CLI.client_id]
    unknown = CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//xia", "--client", "nope"])
    assert unknown.exit_code == 1 and "antigravity, gemini-cli" in unknown.output


def test_adding_an_account_when_google_says_the_client_is_too_old(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.add_account(make_account("old@example.com", client_id=ANTIGRAVITY.client_id))
    emulator.min_client_version = (2, 10, 0)
    refused = CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//old"])
    assert refused.exit_code == 1
    assert "upstream_user_agent" in refused.output and "'antigravity'" in refused.output
    assert "1//old" not in refused.output
    emulator.min_client_version = None
    assert CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//old"]).exit_code == 0
    (row,) = _listed(CliRunner())
    assert row["status"] == "enabled"
