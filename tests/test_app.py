"""The app's own routes: liveness and readiness, and ``GET /``."""

from __future__ import annotations

from tests.conftest import Gateway, GatewayFactory


def test_healthz_is_live_but_not_ready_without_accounts(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([])
    http = gateway.http()
    health = http.get("/healthz")
    assert health.status_code == 200  # liveness: the process answers
    body = health.json()
    assert body["status"] == "ok" and body["ready"] is False
    assert body["accounts"] == {"total": 0, "usable": 0} and "agw accounts" in body["reason"]
    ready = http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False


def test_ready_with_a_usable_account(gateway: Gateway) -> None:
    http = gateway.http()
    assert http.get("/healthz").json()["ready"] is True
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["accounts"]["usable"] == 1


def test_readyz_is_open_like_healthz_when_only_health_is_open(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="sk-k", auth_mode="all_except_health")
    assert gateway.http().get("/readyz").status_code == 200
    assert gateway.http().get("/v1beta/models").status_code == 401


def test_root_sends_a_browser_to_the_dashboard(gateway: Gateway) -> None:
    http = gateway.http()
    browser = http.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 307 and browser.headers["location"] == "/ui"
    assert http.get("/", headers={"Accept": "text/html"}, follow_redirects=True).status_code == 200
    api = http.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 404 and "no route" in api.json()["error"]["message"]
