"""``agw keys ...`` with click's CliRunner: the secret printed once and never stored, every command, and a
running gateway applying what the CLI changes within a second."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from antigravity_gateway.cli import main
from tests.conftest import GatewayFactory, wait_until

SECRET = re.compile(r"agw-[A-Za-z0-9_-]{43}")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AGW_HOME", str(tmp_path / "home"))
    return CliRunner()


def _secret(output: str) -> str:
    (secret,) = SECRET.findall(output)
    return secret


def _stored_bytes(home: Path) -> bytes:
    """Every file of the store (the database, its WAL and shared memory)."""
    return b"".join(path.read_bytes() for path in sorted(home.glob("gateway.db*")))


def test_add_prints_the_secret_once_and_the_store_never_has_it(runner: CliRunner, tmp_path: Path) -> None:
    added = runner.invoke(
        main,
        ["keys", "add", "ada", "--models", "gemini-*,claude-sonnet-*", "--rpm", "10", "--tokens-per-day",
         "100000", "--concurrency", "2", "--expires", "30d", "--ips", "10.0.0.0/8", "--note", "Ada's laptop"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    secret = _secret(added.output)
    assert "only time the key is shown" in added.output
    assert secret.encode() not in _stored_bytes(tmp_path / "home")
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0
    assert "ada" in listed.output and secret[:10] in listed.output and secret not in listed.output
    assert "gemini-*, claude-sonnet-*" in listed.output and "active" in listed.output
    (view,) = json.loads(runner.invoke(main, ["keys", "list", "--json"]).output)
    assert view["prefix"] == secret[:10] and "secret_hash" not in view and secret not in json.dumps(view)
    assert (view["rpm"], view["tokens_per_day"], view["concurrency"]) == (10, 100000, 2)
    assert view["ips"] == ["10.0.0.0/8"] and view["note"] == "Ada's laptop" and view["expires_at"]
    shown = runner.invoke(main, ["keys", "show", "ada"])
    assert shown.exit_code == 0 and "tokens per day:      100000" in shown.output
    assert secret not in shown.output and "in flight:           0" in shown.output

    rotated = runner.invoke(main, ["keys", "rotate", "ada"])
    assert rotated.exit_code == 0
    new = _secret(rotated.output)
    assert new != secret and "only time the key is shown" in rotated.output
    stored = _stored_bytes(tmp_path / "home")
    assert secret.encode() not in stored and new.encode() not in stored
    json_add = json.loads(runner.invoke(main, ["keys", "add", "bob", "--json"]).output)
    assert SECRET.fullmatch(json_add["secret"]) and json_add["key"]["name"] == "bob"
    assert json_add["secret"].encode() not in _stored_bytes(tmp_path / "home")


def test_edit_revoke_remove_and_the_errors(runner: CliRunner) -> None:
    assert runner.invoke(main, ["keys", "add", "ada", "--rpm", "5"]).exit_code == 0
    assert runner.invoke(main, ["keys", "edit", "ada", "--rpm", "0", "--models", "gemini-3*"]).exit_code == 0
    (view,) = json.loads(runner.invoke(main, ["keys", "list", "--json"]).output)
    assert view["rpm"] is None and view["models"] == ["gemini-3*"]
    nothing = runner.invoke(main, ["keys", "edit", "ada"])
    assert nothing.exit_code == 1 and "nothing to change" in nothing.output
    for args, says in [
        (["keys", "add", "ada"], "already exists"),
        (["keys", "add", "bad name"], "not a key name"),
        (["keys", "add", "x", "--expires", "soon"], "expires: 'soon' is not an expiry"),
        (["keys", "add", "x", "--ips", "10.0.0.0/40"], "ips: '10.0.0.0/40' is not an IP address"),
        (["keys", "add", "x", "--rpm", "-3"], "rpm must be between 0"),
        (["keys", "add", "x", "--models", "a b"], "not a model pattern"),
        (["keys", "show", "nobody"], "no API key named 'nobody'"),
        (["keys", "rotate", "nobody"], "no API key named 'nobody'"),
        (["keys", "usage", "--since", "yesterday"], "--since"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code == 1 and says in result.output, (args, result.output)
    assert runner.invoke(main, ["keys", "revoke", "ada"]).exit_code == 0
    assert json.loads(runner.invoke(main, ["keys", "list", "--json"]).output)[0]["state"] == "revoked"
    locked = runner.invoke(main, ["keys", "edit", "ada", "--rpm", "3"])
    assert locked.exit_code == 1 and "revoked" in locked.output
    assert runner.invoke(main, ["keys", "revoke", "ada"]).exit_code == 0  # again: no change
    assert runner.invoke(main, ["keys", "remove", "ada"]).exit_code == 0
    assert json.loads(runner.invoke(main, ["keys", "list", "--json"]).output) == []
    assert runner.invoke(main, ["keys", "add", "ada"]).exit_code == 0  # the name is free again


def test_a_running_gateway_applies_what_the_cli_does(
    runner: CliRunner, gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory(auth_mode="auto")
    monkeypatch.setenv("AGW_HOME", str(gateway.settings.home))
    http = gateway.http()
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"parts": [{"text": "from the CLI test"}]}]}
    assert http.post(path, json=body).status_code == 200  # no key needed yet
    secret = _secret(runner.invoke(main, ["keys", "add", "ada", "--models", "gemini-2.5-*"]).output)
    wait_until(lambda: http.post(path, json=body).status_code == 401, "the gateway to require a key", 2)
    assert http.post(path, json=body, headers={"x-goog-api-key": secret}).status_code == 200
    wait_until(lambda: gateway.state.enforcer.running == 0, "the release")
    wait_until(lambda: "ada" in runner.invoke(main, ["stats", "--by", "key"]).output, "the request log")

    usage = runner.invoke(main, ["keys", "usage"])
    assert usage.exit_code == 0 and re.search(r"\d{4}-\d\d-\d\d\s+ada\s+1\s+0\s+0\s+\d+\s+\d+", usage.output)
    (row,) = json.loads(runner.invoke(main, ["keys", "usage", "ada", "--json"]).output)
    assert row["requests"] == 1 and row["input_tokens"] > 0 and row["last_used_at"]
    stats = runner.invoke(main, ["stats", "--by", "key"]).output
    assert re.search(r"\bada\s+1\s+0\b", stats) and re.search(r"\s-\s+\d+\s+\d+\s", stats), stats
    assert " key ada" in runner.invoke(main, ["logs", "tail"]).output

    old = secret
    new = _secret(runner.invoke(main, ["keys", "rotate", "ada"]).output)
    wait_until(
        lambda: http.post(path, json=body, headers={"x-goog-api-key": old}).status_code == 401, "rotation", 2
    )
    assert http.post(path, json=body, headers={"x-goog-api-key": new}).status_code == 200
    assert runner.invoke(main, ["keys", "revoke", "ada"]).exit_code == 0
    wait_until(
        lambda: "revoked" in http.post(path, json=body, headers={"x-goog-api-key": new}).text, "revocation", 2
    )
