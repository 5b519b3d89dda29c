"""The browser policy and the admin API's defences, against a real gateway on a loopback port.

The three requests of issue 8's report (a DNS-rebinding ``Host``, a cross-site ``text/plain`` POST to the
admin API, the same to a client API) must be refused; requests without ``Origin`` (SDKs, curl, CLIs) and
the gateway's own pages must not notice anything.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from antigravity_gateway.settings import Settings
from antigravity_gateway.web.security import host_allowed, split_host
from tests.conftest import Gateway, GatewayFactory

PASSWORD = "admin-pass-123"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
CHAT = "/v1/chat/completions"
EVIL = "http://attacker.example"


def chat() -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "spend my quota"}]}


def own_origin(gateway: Gateway) -> str:
    return gateway.url


# -- the three curl lines of the report ---------------------------------------------------------------


def test_a_rebinding_host_cannot_export_the_pool(gateway: Gateway) -> None:
    answer = gateway.http().get("/api/accounts/export", headers={"Host": "rebind.attacker.example:8045"})
    assert answer.status_code == 403
    assert "refresh_token" not in answer.text and "1//" not in answer.text
    assert "allowed_hosts" in answer.json()["error"]["message"]


def test_a_cross_site_post_cannot_change_admin_state(gateway: Gateway) -> None:
    scheduler = gateway.state.scheduler
    scheduler.clear_cooldowns = lambda *a: pytest.fail("the admin action ran")
    answer = gateway.http().post(
        "/api/cooldowns/clear", headers={"Origin": EVIL, "Content-Type": "text/plain"}, content=b"{}"
    )
    assert answer.status_code == 403
    assert "cors_origins" in answer.json()["error"]["message"]


def test_a_cross_site_post_cannot_spend_quota(gateway: Gateway) -> None:
    import orjson

    answer = gateway.http().post(
        CHAT, headers={"Origin": EVIL, "Content-Type": "text/plain"}, content=orjson.dumps(chat())
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["message"].startswith("requests from the web origin")  # OpenAI's shape
    assert gateway.emulator.requests == []  # nothing reached Google


# -- Host ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8045",
        "LOCALHOST",
        "app.localhost:8045",
        "127.0.0.1",
        "127.8.9.10:8045",
        "[::1]:8045",
        "[::1]",
    ],
)
def test_loopback_hosts_are_served(gateway: Gateway, host: str) -> None:
    assert gateway.http().get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "10.0.0.5:8045", "[::2]"]
)
def test_foreign_hosts_are_refused_before_any_work(gateway: Gateway, host: str) -> None:
    answer = gateway.http().post(GENERATE, headers={"Host": host}, json={"contents": []})
    assert answer.status_code == 403
    assert answer.json()["error"]["status"] == "PERMISSION_DENIED"  # the Gemini dialect of the route
    assert gateway.emulator.requests == []


def test_allowed_hosts_extend_the_loopback_names(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(allowed_hosts=["gw.home.arpa", "*.dev.example"])
    http = gateway.http()
    for host in ("gw.home.arpa:8045", "a.dev.example", "localhost"):
        assert http.get("/healthz", headers={"Host": host}).status_code == 200, host
    assert http.get("/healthz", headers={"Host": "dev.example.evil"}).status_code == 403


@pytest.mark.parametrize(
    ("lan", "host", "allowed", "expected"),
    [
        (False, "127.0.0.1", [], False),
        (True, "127.0.0.1", [], True),  # LAN access: any Host
        (True, "127.0.0.1", ["gw.lan"], False),  # unless allowed_hosts is set
        (False, "0.0.0.0", [], True),  # a non-loopback bind is LAN access too
        (False, "192.168.1.20", ["gw.lan"], False),
    ],
)
def test_host_rule(lan: bool, host: str, allowed: list[str], expected: bool) -> None:
    settings = Settings(allow_lan=lan, host=host, allowed_hosts=allowed)
    assert host_allowed("somewhere.example:8045", settings) is expected
    assert host_allowed("localhost:8045", settings) is True
    if allowed:
        assert host_allowed("gw.lan", settings) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:8045", ("localhost", "8045")),
        ("[::1]:80", ("[::1]", "80")),
        ("[::1]", ("[::1]", "")),
        ("Example.COM.", ("example.com", "")),
    ],
)
def test_split_host(value: str, expected: tuple[str, str]) -> None:
    assert split_host(value) == expected


# -- Origin -------------------------------------------------------------------------------------------


def test_requests_without_origin_are_unaffected(gateway: Gateway) -> None:
    http = gateway.http()
    assert http.post(CHAT, json=chat()).status_code == 200
    assert http.get("/api/accounts").status_code == 200  # loopback, no admin password: open to tools


def test_the_gateways_own_origin_is_allowed(gateway: Gateway) -> None:
    http = gateway.http()
    origin = own_origin(gateway)
    assert http.post(CHAT, json=chat(), headers={"Origin": origin}).status_code == 200
    answer = http.post("/api/cooldowns/clear", json={}, headers={"Origin": origin})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers  # same origin: no CORS needed
    # the same page reached as localhost instead of 127.0.0.1 is another origin, and foreign
    localhost = origin.replace("127.0.0.1", "localhost")
    assert http.post("/api/cooldowns/clear", json={}, headers={"Origin": localhost}).status_code == 403


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1", "https://127.0.0.1", "file://"])
def test_foreign_origins_are_refused_on_the_admin_api(gateway: Gateway, origin: str) -> None:
    http = gateway.http()
    assert http.get("/api/accounts/export", headers={"Origin": origin}).status_code == 403
    assert http.get("/ui/", headers={"Origin": origin}).status_code == 403


def test_cross_site_reads_without_origin_are_refused_on_the_admin_api(gateway: Gateway) -> None:
    """``<script src=".../api/accounts/export">`` sends no Origin, but the browser says where it comes from."""
    http = gateway.http()
    script = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"}
    assert http.get("/api/accounts/export", headers=script).status_code == 403
    same_site = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}
    assert http.get("/api/accounts", headers=same_site).status_code == 403
    # a link followed by the user, or Google's redirect after a login, is a navigation: served
    navigate = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert http.get("/ui/", headers=navigate).status_code == 200
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert http.get("/api/accounts", headers=own).status_code == 200


def test_with_a_key_required_a_foreign_origin_needs_the_key(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="sk-client", auth_mode="strict")
    http = gateway.http()
    assert http.post(CHAT, json=chat(), headers={"Origin": EVIL}).status_code == 401
    answer = http.post(CHAT, json=chat(), headers={"Origin": EVIL, "Authorization": "Bearer sk-client"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers  # not listed: the page cannot read it


# -- CORS ---------------------------------------------------------------------------------------------


def preflight(http: httpx.Client, path: str, origin: str, headers: str) -> httpx.Response:
    return http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_preflights_are_answered_for_listed_origins_only(gateway_factory: GatewayFactory) -> None:
    app = "http://localhost:5173"
    gateway = gateway_factory(api_key="sk-client", auth_mode="strict", cors_origins=[app])
    http = gateway.http()
    wanted = "authorization, x-api-key, x-goog-api-key, anthropic-version, anthropic-beta, content-type"
    answer = preflight(http, CHAT, app, wanted)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == app
    assert set(answer.headers["access-control-allow-headers"].split(", ")) == set(wanted.split(", "))
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert preflight(http, CHAT, EVIL, "authorization").status_code == 403
    assert preflight(http, CHAT, app, "x-evil-header").status_code == 403
    # the real request from the listed origin, with its key, can be read by the page
    answer = http.post(CHAT, json=chat(), headers={"Origin": app, "Authorization": "Bearer sk-client"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == app
    assert "retry-after" in answer.headers["access-control-expose-headers"]
    # the admin API answers the gateway's own pages only, listed or not
    assert http.get("/api/session", headers={"Origin": app}).status_code == 403


def test_a_star_must_be_written_explicitly(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(cors_origins=["*"])
    http = gateway.http()
    answer = http.post(CHAT, json=chat(), headers={"Origin": "https://anything.example"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://anything.example"


def test_cors_origins_are_validated() -> None:
    with pytest.raises(ValueError, match="not an origin"):
        Settings(cors_origins=["localhost:3000"])
    assert Settings(cors_origins="http://a.example/, HTTPS://B.example").cors_origins == [
        "http://a.example",
        "https://b.example",
    ]


# -- admin writes, cookies, sessions ------------------------------------------------------------------


@pytest.fixture
def admin(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(admin_password=PASSWORD, api_key="sk-client", auth_mode="strict")


def login(http: httpx.Client) -> str:
    answer = http.post("/api/login", json={"password": PASSWORD})
    assert answer.status_code == 200
    return str(answer.cookies["agw_session"])


def test_admin_writes_need_a_json_body_type(admin: Gateway) -> None:
    http = admin.http()
    login(http)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = http.post("/api/bindings/clear", headers={"Content-Type": content_type}, content=b"{}")
        assert answer.status_code == 415, content_type
    assert http.post("/api/bindings/clear", content=b"").status_code == 415
    assert http.post("/api/bindings/clear", json={}).status_code == 200
    assert http.get("/api/accounts").status_code == 200  # reads need no body type


def test_the_session_cookie(admin: Gateway) -> None:
    answer = admin.http().post("/api/login", json={"password": PASSWORD})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert answer.cookies["agw_session"] and PASSWORD not in cookie


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(admin_password=PASSWORD, trusted_proxies=["127.0.0.0/8"])
    answer = gateway.http().post(
        "/api/login", json={"password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" in answer.headers["set-cookie"].lower()
    untrusted = gateway_factory(admin_password=PASSWORD)
    answer = untrusted.http().post(
        "/api/login", json={"password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" not in answer.headers["set-cookie"].lower()


def test_logout_ends_the_session_on_the_server(admin: Gateway) -> None:
    http = admin.http()
    session = login(http)
    http.post("/api/logout", json={})
    replay = admin.http()
    assert replay.get("/api/accounts", headers={"Cookie": f"agw_session={session}"}).status_code == 401


def test_a_password_change_ends_the_other_sessions(admin: Gateway) -> None:
    first, second = admin.http(), admin.http()
    login(first)
    old = login(second)
    answer = first.patch("/api/settings", json={"admin_password": "a-new-password"})
    assert answer.status_code == 200
    assert first.get("/api/accounts").status_code == 200  # the one who changed it stays logged in
    assert admin.http().get("/api/accounts", headers={"Cookie": f"agw_session={old}"}).status_code == 401
    assert first.post("/api/login", json={"password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("cookie", ["\xb2.abc", "9" * 5000, "1." + "a" * 64, "", "..", "x" * 10_000])
def test_a_malformed_session_cookie_is_no_session(admin: Gateway, cookie: str) -> None:
    http = admin.http()
    headers = {"Cookie": f"agw_session={cookie}".encode("latin-1")}
    answer = http.get("/api/accounts", headers=headers)
    assert answer.status_code == 401
    assert http.get("/api/session", headers=headers).json()["authenticated"] is False


def test_the_client_key_is_not_the_admin_password(admin: Gateway) -> None:
    http = admin.http()
    assert http.post("/api/login", json={"password": "sk-client"}).status_code == 401
    assert http.get("/api/accounts/export", headers={"Authorization": "Bearer sk-client"}).status_code == 401


def test_the_export_stays_behind_the_password(admin: Gateway) -> None:
    http = admin.http()
    assert http.get("/api/accounts/export").status_code == 401
    login(http)
    assert "1//alice" in http.get("/api/accounts/export").text


# -- login throttling ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_back_off(admin: Gateway) -> None:
    clock = Clock()
    admin.state.admin.throttle.clock = clock
    http = admin.http()
    for _ in range(9):
        assert http.post("/api/login", json={"password": "guess"}).status_code == 401
    tenth = http.post("/api/login", json={"password": "guess"})
    assert tenth.status_code == 429 and tenth.headers["retry-after"] == "60"
    # while the address waits, even the right password is refused
    refused = http.post("/api/login", json={"password": PASSWORD})
    assert refused.status_code == 429 and "try again" in refused.json()["error"]["message"]
    assert http.get("/api/accounts", headers={"Authorization": "Bearer guess"}).status_code == 429
    clock.now += 61
    # the right password works again once the wait is over, and a success resets the count
    assert http.post("/api/login", json={"password": PASSWORD}).status_code == 200
    for _ in range(9):
        assert http.post("/api/login", json={"password": "guess"}).status_code == 401


def test_the_wait_doubles_up_to_fifteen_minutes(admin: Gateway) -> None:
    clock = Clock()
    admin.state.admin.throttle.clock = clock
    http = admin.http()
    waits = []
    for _ in range(6):
        for _ in range(10):
            answer = http.post("/api/login", json={"password": "guess"})
        waits.append(int(answer.headers["retry-after"]))
        clock.now += waits[-1] + 1
    assert waits == [60, 120, 240, 480, 900, 900]


def test_wrong_client_keys_back_off_without_slowing_the_right_key(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="sk-right", auth_mode="strict")
    clock = Clock()
    gateway.state.key_throttle.clock = clock
    http = gateway.http()
    statuses = [
        http.post(CHAT, json=chat(), headers={"x-api-key": "sk-wrong"}).status_code for _ in range(12)
    ]
    assert statuses == [401] * 9 + [429] * 3
    waiting = http.post(GENERATE, json={"contents": []}, headers={"x-goog-api-key": "sk-wrong"})
    assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) == 60
    assert waiting.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert http.post(CHAT, json=chat(), headers={"x-api-key": "sk-right"}).status_code == 200
    clock.now += 61
    assert http.post(CHAT, json=chat(), headers={"x-api-key": "sk-wrong"}).status_code == 401


# -- the posture follows the address actually bound ---------------------------------------------------


def test_a_non_loopback_bind_gets_the_lan_rules(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(host="0.0.0.0", auth_mode="off", api_key="sk-client")
    http = gateway.http()
    assert http.post(CHAT, json=chat()).status_code == 401  # auth_mode off is not honoured when exposed
    assert http.post(CHAT, json=chat(), headers={"x-api-key": "sk-client"}).status_code == 200
    closed = http.get("/api/accounts/export")
    assert closed.status_code == 403 and "AGW_ADMIN_PASSWORD" in closed.json()["error"]["message"]
    assert http.get("/api/session").json() == {
        "authenticated": False,
        "password_required": False,
        "lan": True,
    }


def test_the_dashboard_cannot_expose_the_gateway_without_a_password(gateway: Gateway) -> None:
    http = gateway.http()
    for change in ({"host": "0.0.0.0"}, {"allow_lan": True}):
        answer = http.patch("/api/settings", json=change)
        assert answer.status_code == 400 and "admin password" in answer.json()["error"]["message"]
    assert gateway.state.settings.host == "127.0.0.1"
    answer = http.patch("/api/settings", json={"allow_lan": True, "admin_password": PASSWORD})
    assert answer.status_code == 200 and answer.json()["restart_required"] == ["allow_lan"]
