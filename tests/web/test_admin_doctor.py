"""``GET /api/doctor``: the checks of ``agw doctor`` for the dashboard, guarded like every admin route."""

from __future__ import annotations

import pytest

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, make_account

PASSWORD = "admin-pass-123"
KEY = "sk-client-key-0123456789"


@pytest.fixture
def admin(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(admin_password=PASSWORD, api_key=KEY, auth_mode="strict")


def test_doctor_needs_the_admin_password(admin: Gateway) -> None:
    http = admin.http()
    assert http.get("/api/doctor").status_code == 401
    assert http.get("/api/doctor", headers={"authorization": f"Bearer {KEY}"}).status_code == 401


def test_doctor_reports_every_check(admin: Gateway) -> None:
    answer = admin.http().get("/api/doctor", headers={"authorization": f"Bearer {PASSWORD}"})
    assert answer.status_code == 200
    data = answer.json()
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is True, data
    for name in ("python", "home", "config", "port", "auth", "clock", "client version"):
        assert checks[name]["status"] == "ok", checks[name]
    # the port is this gateway's own; with auth_mode strict its /healthz wants the key, which is not sent
    assert "held by an Antigravity Gateway" in checks["port"]["detail"]
    assert checks["account alice@example.com"]["status"] == "ok"
    assert "countTokens on gemini-2.5-flash" in checks["account alice@example.com"]["detail"]
    for secret in (PASSWORD, KEY, "1//alice", "ya29"):
        assert secret not in answer.text


def test_doctor_records_no_cooldown(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(accounts=[make_account("alice@example.com"), make_account("bob@example.com")])
    gateway.emulator.add_fault(Fault(method="countTokens", account="bob@example.com", status=429, times=None))
    data = gateway.http().get("/api/doctor").json()
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is False
    assert checks["account bob@example.com"]["status"] == "fail"
    assert checks["account alice@example.com"]["status"] == "ok"
    assert "held by Antigravity Gateway" in checks["port"]["detail"]
    assert gateway.state.scheduler.cooldowns == {}
    accounts = gateway.http().get("/api/accounts").json()
    assert {a["status"] for a in accounts} == {"enabled"} and all(not a["cooldowns"] for a in accounts)
