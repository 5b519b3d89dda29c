"""The admin API behind the dashboard: login, accounts, OAuth login, settings, logs, stats."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest

from antigravity_gateway.accounts.profiles import ANTIGRAVITY
from antigravity_gateway.config_file import read_config
from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, make_account

PASSWORD = "admin-pass-123"
URL = "/v1beta/models/gemini-2.5-flash:generateContent"


def ask(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.fixture
def admin(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(admin_password=PASSWORD, api_key="sk-client-key", auth_mode="strict")


def logged_in(gateway: Gateway) -> httpx.Client:
    http = gateway.http()
    assert http.post("/api/login", json={"password": PASSWORD}).status_code == 200
    return http


def test_login_is_required_and_sets_an_httponly_cookie(admin: Gateway) -> None:
    http = admin.http()
    assert http.get("/api/session").json() == {
        "authenticated": False,
        "password_required": True,
        "lan": False,
    }
    assert http.get("/api/accounts").status_code == 401
    assert http.post("/api/login", json={"password": "wrong"}).status_code == 401
    answer = http.post("/api/login", json={"password": PASSWORD})
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert http.get("/api/session").json()["authenticated"] is True
    assert http.get("/api/accounts").status_code == 200
    assert (
        admin.http().get("/api/accounts", headers={"authorization": f"Bearer {PASSWORD}"}).status_code == 200
    )
    http.post("/api/logout", json={})
    http.cookies.clear()
    assert http.get("/api/accounts").status_code == 401


def test_the_api_key_is_not_the_admin_password(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="sk-only-key", auth_mode="strict", admin_password=PASSWORD)
    http = gateway.http()
    assert http.post("/api/login", json={"password": "sk-only-key"}).status_code == 401
    assert http.get("/api/overview", headers={"Authorization": "Bearer sk-only-key"}).status_code == 401
    assert http.get("/api/overview").status_code == 401


def test_no_password_on_a_lan_refuses(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        api_key="", admin_password="", allow_lan=True, auth_mode="off", host="127.0.0.1"
    )
    answer = gateway.http().get("/api/accounts")
    assert answer.status_code == 403
    assert "AGW_ADMIN_PASSWORD" in answer.json()["error"]["message"]


def test_accounts_view_has_quota_states_and_cooldowns(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        [
            make_account("alice@example.com", quota_requests={"gemini-2.5-flash": 10}),
            make_account("bob@example.com"),
        ],
        admin_password=PASSWORD,
    )
    gateway.emulator.add_fault(Fault.rate_limited(retry_delay="120s", account="alice@example.com"))
    gateway.http().post(URL, json=ask("make alice cool down please"))
    http = logged_in(gateway)
    accounts = {a["email"]: a for a in http.get("/api/accounts").json()}
    alice = accounts["alice@example.com"]
    assert alice["status"] == "enabled" and alice["project_id"]
    assert "refresh_token" not in alice and "access_token" not in alice
    (cooldown,) = alice["cooldowns"]
    assert cooldown["model"] == "gemini-2.5-flash" and cooldown["reason"] == "rate_limited"
    assert 100 < cooldown["until"] - time.time() <= 120
    flash = next(m for m in alice["quota"]["models"] if m["id"] == "gemini-2.5-flash")
    assert flash["remaining"] == 1.0 and flash["reset_time"] > time.time()
    assert {b["id"] for b in alice["quota"]["buckets"]} >= {"gemini-5h", "gemini-weekly"}
    assert http.post("/api/cooldowns/clear", json={}).json() == {"ok": True}
    assert http.get("/api/accounts").json()[0]["cooldowns"] == []


def test_account_actions(admin: Gateway) -> None:
    http = logged_in(admin)
    (alice,) = http.get("/api/accounts").json()
    updated = http.patch(f"/api/accounts/{alice['id']}", json={"label": "work", "priority": 5}).json()
    assert (updated["label"], updated["priority"]) == ("work", 5)
    assert http.post(f"/api/accounts/{alice['id']}/disable", json={}).json()["status"] == "disabled"
    assert (
        admin.http(headers={"x-goog-api-key": "sk-client-key"}).post(URL, json=ask("hello")).status_code
        == 503
    )
    assert http.post(f"/api/accounts/{alice['id']}/enable", json={}).json()["status"] == "enabled"
    refreshed = http.post(f"/api/accounts/{alice['id']}/quota", json={}).json()
    assert refreshed["quota"]["fetched_at"] > time.time() - 5
    admin.emulator.add_account(make_account("bob@example.com"))
    added = http.post("/api/accounts", json={"refresh_token": "1//bob", "label": "second"})
    assert added.status_code == 201 and added.json()["email"] == "bob@example.com"
    bad = http.post("/api/accounts", json={"refresh_token": "1//nobody"})
    assert bad.status_code == 400 and "invalid_grant" in bad.json()["error"]["message"]
    exported = http.get("/api/accounts/export").json()
    assert {r["email"] for r in exported} == {"alice@example.com", "bob@example.com"}
    assert http.request("DELETE", f"/api/accounts/{alice['id']}", json={}).json() == {"ok": True}
    assert [a["email"] for a in http.get("/api/accounts").json()] == ["bob@example.com"]


def test_import_lines_and_json_with_per_line_results(admin: Gateway) -> None:
    admin.emulator.add_account(make_account("bob@example.com"))
    admin.emulator.add_account(make_account("carol@example.com"))
    http = logged_in(admin)
    text = "# tokens\n1//bob\n\n1//nobody\n1//alice\n"
    results = http.post("/api/accounts/import", json={"text": text}).json()["results"]
    assert [(r["line"], r["ok"]) for r in results] == [(2, True), (4, False), (5, True)]
    assert results[2]["updated"] is True and results[0]["updated"] is False
    assert "invalid_grant" in results[1]["error"]
    as_json = '[{"email": "carol@example.com", "refresh_token": "1//carol"}, {"email": "x"}]'
    results = http.post("/api/accounts/import", json={"text": as_json}).json()["results"]
    assert [(r["ok"], r.get("email")) for r in results] == [(True, "carol@example.com"), (False, "x")]
    assert len(http.get("/api/accounts").json()) == 3


def test_import_files_of_other_tools_a_zip_and_a_dry_run(admin: Gateway, tmp_path: Path) -> None:
    samples = Path(__file__).parent.parent / "accounts" / "samples"
    admin.emulator.add_client("gcli2api-test.apps.example", "GOCSPX-gcli2api-sample-secret")
    admin.emulator.add_account(make_account("eve@example.com", client_id="gcli2api-test.apps.example"))
    admin.emulator.add_account(make_account("cleo@example.com", client_id=ANTIGRAVITY.client_id))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(samples / "gcli2api" / "eve@example.com.json", "eve@example.com.json")
    files = [
        {"name": "creds.zip", "data": base64.b64encode(archive.getvalue()).decode()},
        {
            "name": "antigravity-cleo@example.com.json",
            "data": base64.b64encode(
                (samples / "cli-proxy-api" / "antigravity-cleo@example.com.json").read_bytes()
            ).decode(),
        },
    ]
    http = logged_in(admin)
    dry = http.post("/api/accounts/import", json={"files": files, "dry_run": True}).json()
    assert dry["dry_run"] is True and [r["action"] for r in dry["results"]] == ["added", "added"]
    assert len(http.get("/api/accounts").json()) == 1
    assert not [r for r in admin.emulator.requests if r.path.endswith("/token")]

    answer = http.post("/api/accounts/import", json={"files": files}).json()
    assert answer["summary"] == {"added": 2, "updated": 0, "skipped": 0, "failed": 0}
    assert [(r["source"], r["email"]) for r in answer["results"]] == [
        ("creds.zip:eve@example.com.json", "eve@example.com"),
        ("antigravity-cleo@example.com.json", "cleo@example.com"),
    ]
    assert "GOCSPX" not in str(answer) and "1//" not in str(answer)
    saved = read_config(admin.settings.home / "config.toml")["oauth_clients"]
    assert [c["id"] for c in saved] == ["gcli2api-test.apps.example"] and saved[0]["label"].startswith(
        "gcli2api-"
    )
    assert {a["email"] for a in http.get("/api/accounts").json()} == {
        "alice@example.com",
        "eve@example.com",
        "cleo@example.com",
    }

    broken = [{"name": "cut.json", "data": base64.b64encode(b'{"refresh_token": "1//x').decode()}, *files]
    refused = http.post("/api/accounts/import", json={"files": broken})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert message.startswith("cannot import cut.json: it looks like JSON") and "gcli2api" in message
    assert "1//x" not in message
    not_base64 = http.post("/api/accounts/import", json={"files": [{"name": "a.json", "data": "%%%"}]})
    assert not_base64.status_code == 400 and "base64" in not_base64.json()["error"]["message"]


def test_google_login_through_the_dashboard(admin: Gateway) -> None:
    admin.emulator.add_account(make_account("dave@example.com"))
    http = logged_in(admin)
    started = http.post("/api/oauth/start", json={"login_hint": "dave@example.com"}).json()
    query = parse_qs(urlparse(started["url"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [started["state"]]
    assert query["redirect_uri"] == [f"{admin.url}/api/oauth/callback"]
    # The browser goes to Google (the emulator consents at once) and comes back to the gateway.
    consent = httpx.get(started["url"], follow_redirects=False)
    back = http.get(consent.headers["location"], follow_redirects=False)
    assert back.status_code == 303 and "added=dave%40example.com" in back.headers["location"]
    assert "dave@example.com" in [a["email"] for a in http.get("/api/accounts").json()]
    # The same state cannot be used twice.
    again = http.get(consent.headers["location"], follow_redirects=False)
    assert again.status_code == 400 and "state" in again.text


def test_google_login_by_pasting_the_redirect(admin: Gateway) -> None:
    admin.emulator.add_account(make_account("erin@example.com"))
    http = logged_in(admin)
    started = http.post("/api/oauth/start", json={"login_hint": "erin@example.com"}).json()
    redirected = httpx.get(started["url"], follow_redirects=False).headers["location"]
    added = http.post("/api/oauth/complete", json={"response": redirected})
    assert added.status_code == 201 and added.json()["email"] == "erin@example.com"
    forged = http.post("/api/oauth/complete", json={"response": redirected.replace("state=", "state=x")})
    assert forged.status_code == 400


def test_settings_are_saved_and_applied_live(admin: Gateway) -> None:
    http = logged_in(admin)
    current = http.get("/api/settings").json()
    assert current["scheduling_mode"] == "balance" and current["admin_password_set"] is True
    answer = http.patch(
        "/api/settings",
        json={"scheduling_mode": "performance", "model_mapping": {"fast": "gemini-2.5-flash"}, "port": 9999},
    ).json()
    assert answer["restart_required"] == ["port"]
    assert admin.state.settings.scheduling_mode == "performance"
    saved = read_config(admin.settings.home / "config.toml")
    assert saved["scheduling_mode"] == "performance" and saved["port"] == 9999
    client = admin.http(headers={"x-goog-api-key": "sk-client-key"})
    assert client.post("/v1beta/models/fast:generateContent", json=ask("mapped")).status_code == 200
    bad = http.patch("/api/settings", json={"scheduling_mode": "chaos"})
    assert bad.status_code == 400 and "scheduling_mode" in bad.json()["error"]["message"]
    assert http.patch("/api/settings", json={"home": "/tmp"}).status_code == 400
    new_key = http.post("/api/settings/api-key", json={}).json()["api_key"]
    assert new_key.startswith("sk-") and new_key != "sk-client-key"
    assert client.post(URL, json=ask("old key")).status_code == 401
    assert admin.http(headers={"x-goog-api-key": new_key}).post(URL, json=ask("new key")).status_code == 200


def test_request_log_and_stats(admin: Gateway) -> None:
    client = admin.http(headers={"x-goog-api-key": "sk-client-key"})
    assert client.post(URL, json=ask("log me please")).status_code == 200
    stream = client.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=ask("stream log")
    )
    assert stream.status_code == 200
    assert client.post(URL, content=b"{broken").status_code == 400
    http = logged_in(admin)
    items = http.get("/api/logs").json()["items"]
    assert [i["status"] for i in items] == [400, 200, 200]
    bad, streamed, plain = items
    assert "Invalid JSON" in bad["error"]
    assert plain["model"] == "gemini-2.5-flash" and plain["upstream_model"] == "gemini-2.5-flash"
    assert plain["account_email"] == "alice@example.com" and plain["protocol"] == "gemini"
    assert plain["input_tokens"] > 0 and plain["output_tokens"] > 0 and plain["attempts"] == 1
    assert streamed["stream"] is True and streamed["ttfb_ms"] is not None and streamed["output_tokens"] > 0
    assert http.get("/api/logs", params={"errors_only": "1"}).json()["items"][0]["status"] == 400
    detail = http.get(f"/api/logs/{plain['id']}").json()
    assert detail["request_body"] is None  # debug capture is off
    stats = http.get("/api/stats", params={"period": "hour"}).json()
    assert sum(r["requests"] for r in stats["series"]) == 3
    assert stats["by_model"][0]["key"] == "gemini-2.5-flash"
    assert {r["key"] for r in stats["by_account"]} >= {"alice@example.com"}


def test_debug_capture_keeps_bodies_but_no_secrets(admin: Gateway) -> None:
    http = logged_in(admin)
    http.patch("/api/settings", json={"debug_capture": True})
    client = admin.http(headers={"x-goog-api-key": "sk-client-key"})
    assert client.post(URL, json=ask("capture this body")).status_code == 200
    (item,) = http.get("/api/logs").json()["items"]
    detail = http.get(f"/api/logs/{item['id']}").json()
    assert "capture this body" in detail["request_body"] and "candidates" in detail["response_body"]
    assert "sk-client-key" not in str(detail) and "ya29." not in str(detail)


def test_debug_capture_keeps_a_streamed_body(admin: Gateway) -> None:
    """Streamed chunks skip the middleware that only look at the response start, not the capture."""
    http = logged_in(admin)
    http.patch("/api/settings", json={"debug_capture": True})
    client = admin.http(headers={"x-goog-api-key": "sk-client-key"})
    streamed = client.post(
        URL.replace(":generateContent", ":streamGenerateContent?alt=sse"), json=ask("stream")
    )
    assert streamed.status_code == 200 and streamed.content.startswith(b"data: ")
    (item,) = http.get("/api/logs").json()["items"]
    detail = http.get(f"/api/logs/{item['id']}").json()
    assert detail["response_body"] == streamed.text


def test_quickstart(admin: Gateway) -> None:
    body = logged_in(admin).get("/api/quickstart").json()
    assert body["base_url"] == admin.url and body["api_key"] == "sk-client-key"
    assert "gemini-2.5-flash" in body["models"]


@pytest.mark.parametrize("trusted", [True, False])
def test_google_login_behind_a_tls_proxy_uses_the_public_address(
    gateway_factory: GatewayFactory, trusted: bool
) -> None:
    admin = gateway_factory(
        admin_password=PASSWORD,
        trusted_proxies=["127.0.0.1"] if trusted else [],
        allowed_hosts=["agw.example.org"],
    )
    http = logged_in(admin)
    started = http.post(
        "/api/oauth/start",
        json={},
        headers={"x-forwarded-proto": "https", "x-forwarded-host": "agw.example.org"},
    ).json()
    if trusted:
        assert started["redirect_uri"] == "https://agw.example.org/api/oauth/callback"
    else:  # anyone can send X-Forwarded-*: only a trusted proxy is believed
        assert started["redirect_uri"] == f"{admin.url}/api/oauth/callback"


@pytest.mark.parametrize(
    "priority", [99999999999999999999999, 2**63, -(2**63) - 1, "1e3", True, "x" * 5000, 1.5]
)
def test_an_out_of_range_priority_is_a_400_and_changes_nothing(admin: Gateway, priority: Any) -> None:
    http = logged_in(admin)
    (alice,) = http.get("/api/accounts").json()
    answer = http.patch(f"/api/accounts/{alice['id']}", json={"label": "changed", "priority": priority})
    assert answer.status_code == 400
    assert "priority must be an integer from -1000000 to 1000000" in answer.text
    (after,) = http.get("/api/accounts").json()  # still readable, nothing changed
    assert (after["label"], after["priority"]) == (alice["label"], alice["priority"])
    client = admin.http(headers={"x-goog-api-key": "sk-client-key"})
    assert client.post(URL, json=ask("still served after the refused patch")).status_code == 200


@pytest.mark.parametrize(
    "query", ["before_id=99999999999999999999999", "after_id=-1", "limit=0", "limit=100000", "limit=abc"]
)
def test_log_paging_integers_are_range_checked(admin: Gateway, query: str) -> None:
    answer = logged_in(admin).get(f"/api/logs?{query}")
    assert answer.status_code == 400
    assert "must be an integer from" in answer.text


@pytest.mark.parametrize("request_id", ["99999999999999999999999", "9223372036854775808", "-1", "١٢", "abc"])
def test_a_log_detail_id_out_of_range_is_a_404(admin: Gateway, request_id: str) -> None:
    answer = logged_in(admin).get(f"/api/logs/{request_id}")
    assert answer.status_code == 404 and answer.json()["error"]["message"] == "no such request"
