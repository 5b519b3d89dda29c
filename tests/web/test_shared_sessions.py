"""Dashboard sessions and logins in progress are shared by the processes of a pool (workers, a second
``agw serve`` on the home, hosts on Redis): a login on one is a login on all, a logout ends it on all."""

from __future__ import annotations

import os
from pathlib import Path

import httpx2 as httpx

from antigravity_gateway.emulator import EmulatorServer
from tests.conftest import emulator_env
from tests.served import serve

JSON = {"Content-Type": "application/json"}


def test_a_dashboard_session_opened_on_one_gateway_is_valid_on_the_other(
    tmp_path: Path, emulator_server: EmulatorServer
) -> None:
    env = {
        **os.environ,
        **emulator_env(emulator_server, tmp_path / "home"),
        "AGW_ADMIN_PASSWORD": "pw-123456",
    }
    with serve(env) as first, serve(env) as second:
        login = httpx.post(f"{first.base}/api/login", json={"password": "pw-123456"}, headers=JSON)
        assert login.status_code == 200
        cookies = {"agw_session": login.cookies["agw_session"]}
        assert httpx.get(f"{second.base}/api/settings", cookies=cookies).status_code == 200
        assert httpx.get(f"{second.base}/api/session", cookies=cookies).json()["authenticated"] is True
        # A Google login started on the first gateway completes on the second (the state is shared):
        started = httpx.post(f"{first.base}/api/oauth/start", json={}, headers=JSON, cookies=cookies)
        assert started.status_code == 200, started.text
        callback = httpx.get(
            f"{second.base}/api/oauth/callback", params={"state": started.json()["state"], "code": "bad-code"}
        )
        assert "unknown or expired login" not in callback.text  # the flow was found; the code is refused
        assert callback.status_code == 400 and "could not be completed" in callback.text
        # Logging out on the second ends the session on the first too.
        assert (
            httpx.post(f"{second.base}/api/logout", json={}, headers=JSON, cookies=cookies).status_code == 200
        )
        assert httpx.get(f"{first.base}/api/settings", cookies=cookies).status_code == 401
