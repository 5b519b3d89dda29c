"""What the CLI prints: read-only commands create nothing, tables wrap instead of cutting words, and
no value (a model name, an upstream message) can send control sequences to the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.cli.table import Column, clean, table
from tests.conftest import CLIENT_ID, Gateway, GatewayFactory, make_account


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "list"],
        ["accounts", "quota", "--cached"],
        ["stats"],
        ["logs", "tail"],
        ["cooldowns", "list"],
        ["cooldowns", "clear"],
        ["bindings", "clear"],
    ],
)
def test_read_only_commands_on_an_empty_home_create_nothing(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
    result = subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", *args],
        env={**env, "AGW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no data yet at {home / 'gateway.db'}"
    assert not home.exists(), f"`agw {' '.join(args)}` created {home}"


def test_commands_on_one_account_of_an_empty_home_fail_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("AGW_HOME", str(home))
    for args in (["accounts", "disable", "a@example.com"], ["accounts", "label", "a@example.com", "x"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert f"no account 'a@example.com': no data yet at {home / 'gateway.db'}" in result.stderr
    models = CliRunner().invoke(main, ["models"])
    assert models.exit_code == 0 and "no data yet" in models.output and "gpt-4*" in models.output
    assert not home.exists()


def test_json_output_on_an_empty_home_stays_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(main, ["accounts", "list", "--json"])
    assert result.exit_code == 0 and result.stdout.strip() == "[]"
    assert "no data yet" in result.stderr
    assert not (tmp_path / "home").exists()


def test_logs_tail_says_when_the_log_is_empty(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    result = CliRunner().invoke(main, ["logs", "tail"])
    assert result.exit_code == 0 and result.output.strip() == "no requests logged yet"
    errors = CliRunner().invoke(main, ["logs", "tail", "--errors"])
    assert errors.output.strip() == "no failed requests logged yet"


def test_a_model_name_cannot_rewrite_the_terminal(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    osc = "%1B]0;pwned%07%1B[2J"  # set the window title, clear the screen
    answer = gateway.http().post(
        f"/v1beta/models/x{osc}:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
    )
    assert answer.status_code == 400  # refused at the edge, and logged with the name as sent
    deadline = time.monotonic() + 10
    while "pwned" not in (tail := CliRunner().invoke(main, ["logs", "tail"]).output):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.05)
    assert "\x1b" not in tail and "\x07" not in tail
    assert "x\\x1b]0;pwned\\x07\\x1b[2J" in tail  # shown, escaped
    stats = CliRunner().invoke(main, ["stats"]).output
    assert "\x1b" not in stats and "\\x1b" in stats


def test_failed_gemini_requests_are_logged_with_their_model(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    bad = gateway.http().post("/v1beta/models/gemini-2.5-flash:generateContent", content=b"{")
    assert bad.status_code == 400
    deadline = time.monotonic() + 10
    while not (tail := CliRunner().invoke(main, ["logs", "tail"]).output).startswith(("0", "1", "2")):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.05)
    assert " 400 gemini    gemini-2.5-flash " in tail


def test_tables_wrap_words_to_the_terminal_width_instead_of_cutting_them(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory([make_account("alice@example.com")])
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    monkeypatch.setenv("AGW_OAUTH_CLIENT_ID", CLIENT_ID)  # the gateway's client: shown as profile "primary"
    monkeypatch.setenv("COLUMNS", "80")  # a classic terminal; the natural width is 100
    listed = CliRunner().invoke(main, ["accounts", "list"]).output
    tier = gateway.accounts[0].tier_name
    assert len(tier) > 14  # "Gemini Code Assist for individuals": cut to "Gemini Code As" before
    assert all(len(line) <= 80 for line in listed.splitlines()), listed
    assert all(word in listed.split() for word in tier.split()), listed  # whole words, wrapped


def test_table_helper() -> None:
    lines = table(
        [Column("NAME"), Column("NOTE", wrap=True), Column("N", ">")],
        [["a", "one two three four five six", 7], ["bb", "x\x1b[31my", 10]],
        width=24,
    )
    assert [line.split() for line in lines] == [
        ["NAME", "NOTE", "N"],
        ["a", "one", "two", "three", "7"],
        ["four", "five", "six"],
        ["bb", "x\\x1b[31my", "10"],
    ]
    assert lines[2].startswith(" " * 6 + "four") and max(map(len, lines)) == 24
    assert all(len(line) <= 24 for line in lines)
    assert clean("a\nb\tc\u202ed") == "a\\nb\\tc\\u202ed"
    assert table([Column("A", wrap=True)], [["averyveryverylongword"]], width=5)[1] == "averyveryverylongword"
