"""The checks of ``agw doctor`` (antigravity_gateway/diagnosis.py) one by one, where the command line
cannot reach a case (an old Python, an unwritable home on a machine where tests run as root)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway import diagnosis
from antigravity_gateway.diagnosis import (
    Check,
    config_check,
    failed,
    home_check,
    posture_check,
    python_check,
    report,
)
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import make_settings


def test_python_version() -> None:
    assert python_check().status == "ok"
    old = python_check((3, 10, 12))
    assert old.status == "fail" and "Python 3.10.12" in old.detail and "3.11 or newer" in old.fix


def test_home_missing_is_fine_and_not_created(tmp_path: Path) -> None:
    check = home_check(tmp_path / "nowhere")
    assert check.status == "ok" and "does not exist yet" in check.detail
    assert not (tmp_path / "nowhere").exists()


def test_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    check = home_check(tmp_path / "file")
    assert check.status == "fail" and "not a directory" in check.detail


def test_home_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    # tests may run as root, for whom every directory is writable: ask as another user would
    monkeypatch.setattr(diagnosis.os, "access", lambda path, mode: not (mode & os.W_OK))
    check = home_check(home)
    assert check.status == "fail" and "not writable" in check.detail and "chmod u+rwx" in check.fix


def test_home_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "gateway.db").write_text("")
    os.chmod(home / "gateway.db", 0o644)
    check = home_check(home)
    assert check.status == "warn" and "gateway.db" in check.detail and "chmod 600" in check.fix
    os.chmod(home / "gateway.db", 0o600)
    assert home_check(home).status == "ok"


def test_config_unknown_names_are_a_warning(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('portt = 1\nscheduling_mode = "balance"\n')
    check = config_check(tmp_path, Settings(home=tmp_path))
    assert check.status == "warn" and "portt" in check.detail and "scheduling_mode" not in check.detail


def test_config_changed_to_a_wrong_value_after_start(tmp_path: Path) -> None:
    """The dashboard's doctor runs with the settings loaded at start; the file may have changed since."""
    settings = Settings(home=tmp_path)
    (tmp_path / "config.toml").write_text("port = 70000\n")
    check = config_check(tmp_path, settings)
    assert check.status == "fail" and "port" in check.detail
    (tmp_path / "config.toml").write_text("port = [\n")
    assert config_check(tmp_path, settings).status == "fail"
    (tmp_path / "config.toml").write_text("port = 8050\n")
    assert config_check(tmp_path, settings).status == "ok"


def test_posture(tmp_path: Path) -> None:
    assert posture_check(Settings(home=tmp_path)).status == "ok"
    no_password = posture_check(Settings(home=tmp_path, allow_lan=True, api_key="k" * 20))
    assert no_password.status == "warn" and "admin_password" in no_password.fix
    no_key = posture_check(Settings(home=tmp_path, auth_mode="strict"))
    assert no_key.status == "fail" and "api_key" in no_key.fix
    fine = posture_check(Settings(home=tmp_path, allow_lan=True, api_key="k" * 20, admin_password="p" * 12))
    assert fine.status == "ok" and "reachable from the network" in fine.detail
    assert "k" * 20 not in fine.detail and "p" * 12 not in fine.detail


def test_report_and_failed() -> None:
    checks = [Check("a", "ok", "fine"), Check("b", "warn", "hm", "do x")]
    assert not failed(checks) and report(checks)["ok"] is True
    checks.append(Check("c", "fail", "broken", "do y"))
    assert failed(checks) and report(checks) == {
        "ok": False,
        "checks": [
            {"name": "a", "status": "ok", "detail": "fine", "fix": ""},
            {"name": "b", "status": "warn", "detail": "hm", "fix": "do x"},
            {"name": "c", "status": "fail", "detail": "broken", "fix": "do y"},
        ],
    }


async def test_the_token_endpoints_date_is_remembered(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    settings = make_settings(tmp_path, emulator_server)
    async with UpstreamClient(settings) as http:
        assert http.server_date() is None
        await http.post_form(settings.oauth_token_url, {"grant_type": "refresh_token"})
        seen = http.server_date()
        assert seen is not None and seen.url == settings.oauth_token_url
        assert abs(seen.local - seen.server) < 2  # the emulator sends a correct Date, as Google does
        emulator.clock_skew = 3600.0
        await http.post_form(settings.oauth_token_url, {"grant_type": "refresh_token"})
        seen = http.server_date()
        assert seen is not None and 3598 < seen.server - time.time() < 3602
        assert diagnosis.clock_check(http).status == "fail"


def test_quota_summary() -> None:
    summary = diagnosis._quota_summary
    full = {"models": [{"id": "a", "remaining": 1.0, "reset_time": None}]}
    assert summary(full) == ("ok", "quota left on 1 of 1 models (all at 100%)")
    low = {
        "models": [
            {"id": "a", "remaining": 0.25, "reset_time": None},
            {"id": "b", "remaining": 0.0, "reset_time": 2e9},
        ]
    }
    assert summary(low) == ("ok", "quota left on 1 of 2 models (lowest 0%: b)")
    status, text = summary({"models": [{"id": "b", "remaining": 0.0, "reset_time": 2e9}]})
    assert status == "warn" and text.startswith(
        "no quota left on any of its 1 models; the first reset is at "
    )
    assert summary({"models": []}) == ("warn", "no models available to this account")
    assert summary({"models": [{"id": "a", "remaining": None}]})[0] == "ok"


async def test_accounts_set_aside_are_reported_without_asking_google() -> None:
    """Accounts the gateway set aside are reported from their state; Google is not asked (no pool)."""
    pool: Any = None  # not touched for these
    run = diagnosis._AccountRun()
    forbidden = Account(
        email="f@example.com", refresh_token="x", status="forbidden", status_reason="403 from Google"
    )
    check = await diagnosis.account_check(pool, pool, forbidden, run)
    assert check.status == "fail" and check.detail == "forbidden: 403 from Google"
    assert "agw accounts enable f@example.com" in check.fix
    waiting = Account(
        email="v@example.com",
        refresh_token="x",
        status="validation_required",
        status_until=time.time() + 600,
        validation_url="https://accounts.google.com/signin/continue?x=1",
    )
    check = await diagnosis.account_check(pool, pool, waiting, run)
    assert check.status == "fail" and check.fix.startswith(
        "open https://accounts.google.com/signin/continue?x=1 as"
    )
    disabled = Account(email="d@example.com", refresh_token="x", status="disabled")
    assert (await diagnosis.account_check(pool, pool, disabled, run)).status == "warn"
    assert run.calls == 0
