"""Upstream proxies end to end: real HTTP and SOCKS5 proxies (pproxy) on loopback between the gateway
and the emulator. Every request to the emulator must have come through the configured proxy, as the
proxy's own log and sockets show."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from antigravity_gateway.accounts.login import LoginFlow, LoginFlows
from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import (
    Gateway,
    GatewayFactory,
    emulator_env,
    free_port,
    make_account,
    make_settings,
)
from tests.upstream import proxy_server
from tests.upstream.proxy_server import PASSWORD, ProxyFactory, ProxyServer

proxy_factory = proxy_server.proxy_factory  # the fixture

URL = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM_URL = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def ask(text: str = "Say something through the proxy") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def emulator_port(server: EmulatorServer) -> int:
    port = urlsplit(server.token_url).port
    assert port is not None
    return port


def assert_all_through(emulator: Emulator, proxy: ProxyServer, port: int, email: str | None = None) -> None:
    """Every request the emulator got (for ``email``) came on a connection the proxy holds open."""
    requests = [r for r in emulator.requests if email is None or r.account_email == email]
    assert requests, "the emulator got no request"
    through = proxy.ports_to(port)
    assert {r.peer_port for r in requests} <= through, (
        f"requests from ports {sorted({r.peer_port for r in requests} - through)} did not come "
        f"through the {proxy.kind} proxy (its connections: {sorted(through)})"
    )


# -- the CLI: OAuth token, userinfo and v1internal through the proxy ------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    env = emulator_env(emulator_server, home)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return home


def _connections_match(emulator: Emulator, proxy: ProxyServer, port: int) -> None:
    """Each connection the emulator saw is one the proxy opened (its log has one line per connection)."""
    requests = emulator.requests
    seen = {(r.endpoint, r.method) for r in requests}
    assert {("oauth", "token"), ("oauth", "userinfo"), ("sandbox", "loadCodeAssist")} <= seen
    peers = {r.peer_port for r in requests}
    assert proxy.connections_to(port) == len(peers) >= 1, proxy.text()


@pytest.mark.parametrize(("kind", "scheme"), [("http", "http"), ("socks5", "socks5"), ("socks5", "socks5h")])
def test_cli_add_goes_through_the_proxy(
    kind: str,
    scheme: str,
    cli_env: Path,
    emulator: Emulator,
    emulator_server: EmulatorServer,
    proxy_factory: ProxyFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = proxy_factory(kind)
    monkeypatch.setenv("AGW_UPSTREAM_PROXY", proxy.url(scheme))
    emulator.add_account(make_account("alice@example.com"))
    result = CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//alice"])
    assert result.exit_code == 0, result.output
    _connections_match(emulator, proxy, emulator_port(emulator_server))


def test_the_login_code_exchange_goes_through_the_proxy(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory("socks5")
    emulator.add_account(make_account("alice@example.com"))
    settings = make_settings(tmp_path / "home", emulator_server, upstream_proxy=proxy.url("socks5h"))

    async def start() -> LoginFlow:
        async with SQLiteStore(settings.db_path) as store:
            flows = LoginFlows(OAuth(settings, UpstreamClient(settings)), store)
            return await flows.start("http://127.0.0.1:9/callback", login_hint="alice@example.com")

    flow = asyncio.run(start())
    with httpx.Client(follow_redirects=False) as browser:  # the user's browser: Google's consent page
        consent = browser.get(flow.url)
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    emulator.clear_requests()

    async def exchange() -> str:
        async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
            return await LoginFlows(OAuth(settings, http), store).refresh_token_for(flow, code)

    assert asyncio.run(exchange())
    (request,) = emulator.requests
    assert (request.endpoint, request.method, request.status) == ("oauth", "token", 200)
    assert proxy.connections_to(emulator_port(emulator_server)) == 1


def test_the_standard_proxy_variables_are_honoured(
    cli_env: Path,
    emulator: Emulator,
    emulator_server: EmulatorServer,
    proxy_factory: ProxyFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = proxy_factory("socks5")
    port = emulator_port(emulator_server)
    emulator.add_account(make_account("alice@example.com"))
    monkeypatch.setenv("ALL_PROXY", proxy.url("socks5h"))
    monkeypatch.setenv("NO_PROXY", "example.invalid")
    result = CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//alice"])
    assert result.exit_code == 0, result.output
    _connections_match(emulator, proxy, port)

    # NO_PROXY naming the host: straight to it, the proxy opens nothing more
    before = proxy.connections_to(port)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    result = CliRunner().invoke(main, ["accounts", "add", "--refresh-token", "1//alice"])
    assert result.exit_code == 0, result.output
    assert proxy.connections_to(port) == before


def test_accounts_proxy_command(
    cli_env: Path, emulator: Emulator, emulator_server: EmulatorServer, proxy_factory: ProxyFactory
) -> None:
    emulator.add_account(make_account("alice@example.com"))
    runner = CliRunner()
    assert runner.invoke(main, ["accounts", "add", "--refresh-token", "1//alice"]).exit_code == 0
    proxy = proxy_factory("http")

    result = runner.invoke(main, ["accounts", "proxy", "alice@example.com", proxy.url()])
    assert result.exit_code == 0, result.output
    assert f"agw:***@127.0.0.1:{proxy.port}" in result.output and PASSWORD not in result.output
    for command in (["accounts", "proxy", "alice@example.com"], ["accounts", "list"]):
        shown = runner.invoke(main, command)
        assert shown.exit_code == 0 and PASSWORD not in shown.output
    listed = runner.invoke(main, ["accounts", "list", "--json"])
    assert f"agw:***@127.0.0.1:{proxy.port}" in listed.output and PASSWORD not in listed.output

    # the account's own proxy carries its calls from the CLI too (the quota)
    emulator.clear_requests()
    result = runner.invoke(main, ["accounts", "quota"])
    assert result.exit_code == 0, result.output
    assert "fetchAvailableModels" in {r.method for r in emulator.requests}
    assert proxy.connections_to(emulator_port(emulator_server)) == len(
        {r.peer_port for r in emulator.requests}
    )

    bad = runner.invoke(main, ["accounts", "proxy", "alice@example.com", "ftp://agw:" + PASSWORD + "@h:1"])
    assert bad.exit_code == 1 and "not a proxy URL" in bad.output and PASSWORD not in bad.output
    assert runner.invoke(main, ["accounts", "proxy", "nobody@example.com", "none"]).exit_code == 1

    result = runner.invoke(main, ["accounts", "proxy", "alice@example.com", "none"])
    assert result.exit_code == 0 and "no proxy of its own" in result.output


# -- the gateway: per-account routing, a dead proxy, wrong credentials ----------------------------------


def _patch_proxy(gateway: Gateway, email: str, url: str) -> dict[str, Any]:
    account = next(a for a in gateway.accounts if a.email == email)
    answer = gateway.http().patch(f"/api/accounts/{account.id}", json={"proxy_url": url})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _only(gateway: Gateway, email: str) -> None:
    """Leave only ``email`` enabled (so the next request is served by it)."""
    http = gateway.http()
    for account in gateway.accounts:
        action = "enable" if account.email == email else "disable"
        assert http.post(f"/api/accounts/{account.id}/{action}", json={}).status_code == 200


@pytest.fixture
def two_accounts(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory([make_account("alice@example.com"), make_account("bob@example.com")])


def test_an_account_added_in_the_dashboard_with_its_proxy(
    gateway_factory: GatewayFactory, emulator_server: EmulatorServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory("http")
    gateway = gateway_factory([])
    gateway.emulator.add_account(make_account("bob@example.com"))
    answer = gateway.http().post("/api/accounts", json={"refresh_token": "1//bob", "proxy_url": proxy.url()})
    assert answer.status_code == 201, answer.text
    assert answer.json()["proxy_url"] == f"http://agw:***@127.0.0.1:{proxy.port}"
    seen = {(r.endpoint, r.method) for r in gateway.emulator.requests}
    assert {("oauth", "token"), ("oauth", "userinfo"), ("sandbox", "loadCodeAssist")} <= seen
    assert_all_through(gateway.emulator, proxy, emulator_port(emulator_server))
    refused = gateway.http().post("/api/accounts", json={"refresh_token": "1//bob", "proxy_url": "ftp://x:1"})
    assert refused.status_code == 400 and "not a proxy URL" in refused.text


def test_per_account_proxies(
    two_accounts: Gateway, emulator_server: EmulatorServer, proxy_factory: ProxyFactory
) -> None:
    gateway, port = two_accounts, emulator_port(emulator_server)
    http_proxy, socks_proxy = proxy_factory("http"), proxy_factory("socks5")
    view = _patch_proxy(gateway, "alice@example.com", http_proxy.url())
    assert view["proxy_url"] == view["proxy"] == f"http://agw:***@127.0.0.1:{http_proxy.port}"
    _patch_proxy(gateway, "bob@example.com", socks_proxy.url("socks5h"))
    gateway.emulator.expire_access_tokens()  # the token refresh goes through the account's proxy too

    client = gateway.http()
    for email in ("alice@example.com", "bob@example.com", "alice@example.com"):
        _only(gateway, email)
        answer = client.post(URL, json=ask(f"hello from {email}"))
        assert answer.status_code == 200, answer.text
        streamed = client.post(STREAM_URL, json=ask(f"a stream for {email}"))
        assert streamed.status_code == 200 and "data:" in streamed.text, streamed.text

    requests = gateway.emulator.requests
    assert {r.account_email for r in requests if r.endpoint == "oauth"} == {
        "alice@example.com",
        "bob@example.com",
    }
    assert_all_through(gateway.emulator, http_proxy, port, "alice@example.com")
    assert_all_through(gateway.emulator, socks_proxy, port, "bob@example.com")
    assert not http_proxy.ports_to(port) & socks_proxy.ports_to(port)

    listed = client.get("/api/proxies").json()
    by_url = {p["proxy"]: p for p in listed["proxies"]}
    alice = by_url[f"http://agw:***@127.0.0.1:{http_proxy.port}"]
    assert alice["accounts"] == ["alice@example.com"] and alice["requests"] >= 2 and alice["failures"] == 0
    assert PASSWORD not in client.get("/api/proxies").text + client.get("/api/accounts").text


def test_a_dead_proxy_fails_its_account_only(
    two_accounts: Gateway, proxy_factory: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = two_accounts
    dead = f"socks5://agw:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    _patch_proxy(gateway, "alice@example.com", dead)
    gateway.emulator.expire_access_tokens("alice@example.com")
    client = gateway.http()
    caplog.set_level(logging.INFO)

    # with bob there, every request is served (by bob); alice gets no cooldown
    for _ in range(3):
        answer = client.post(URL, json=ask())
        assert answer.status_code == 200, answer.text
    state = gateway.state
    alice = next(a for a in gateway.accounts if a.email == "alice@example.com")
    assert not [key for key in state.scheduler.cooldowns if key[0] == alice.id]
    assert state.pool.accounts[alice.id].status == "enabled"

    # alone, alice's requests fail with an error that names her proxy, its password redacted
    _only(gateway, "alice@example.com")
    answer = client.post(URL, json=ask())
    assert answer.status_code == 502, answer.text
    message = answer.json()["error"]["message"]
    assert f"socks5://agw:***@127.0.0.1:{urlsplit(dead).port}" in message, message
    assert not [key for key in state.scheduler.cooldowns if key[0] == alice.id]

    listed = client.get("/api/proxies").json()["proxies"]
    failing = next(p for p in listed if p["accounts"] == ["alice@example.com"])
    assert failing["failures"] >= 1 and not failing["healthy"]
    logs = client.get("/api/logs").text
    assert PASSWORD not in caplog.text + answer.text + logs + client.get("/api/proxies").text


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_wrong_proxy_credentials(
    kind: str,
    gateway_factory: GatewayFactory,
    proxy_factory: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = proxy_factory(kind)
    gateway = gateway_factory()
    wrong = proxy.url(auth="agw:" + PASSWORD + "-wrong")
    _patch_proxy(gateway, "alice@example.com", wrong)
    caplog.set_level(logging.INFO)
    answer = gateway.http().post(URL, json=ask())
    assert answer.status_code == 502, answer.text
    message = answer.json()["error"]["message"]
    assert f"{kind}://agw:***@127.0.0.1:{proxy.port}" in message, message
    if kind == "http":
        assert "407" in message
    assert "Unauthorized" in proxy.text()  # the proxy itself refused them
    assert PASSWORD not in caplog.text + answer.text
    assert not gateway.state.scheduler.cooldowns


# -- the pool: spread, sticky, skipped while it fails its health check ---------------------------------


def test_proxy_pool_spreads_sticks_and_skips_a_failing_proxy(
    gateway_factory: GatewayFactory, emulator_server: EmulatorServer, proxy_factory: ProxyFactory
) -> None:
    port = emulator_port(emulator_server)
    first, second = proxy_factory("http"), proxy_factory("socks5")
    gateway = gateway_factory(
        [make_account("alice@example.com"), make_account("bob@example.com")],
        upstream_proxies=[first.url(), second.url()],
    )
    client = gateway.http()
    pool = {p["proxy"]: p for p in client.post("/api/proxies/check", json={}).json()["proxies"]}
    assert all(p["healthy"] for p in pool.values())
    homes = {p["proxy"]: p["accounts"] for p in pool.values()}
    assert sorted(len(a) for a in homes.values()) == [1, 1], homes  # spread: one account each
    for email in ("alice@example.com", "bob@example.com", "alice@example.com", "bob@example.com"):
        _only(gateway, email)
        assert client.post(URL, json=ask(email)).status_code == 200
    after = {p["proxy"]: p["accounts"] for p in client.get("/api/proxies").json()["proxies"]}
    assert after == homes  # sticky
    on_first = homes[first.url().replace(PASSWORD, "***")][0]
    on_second = homes[second.url().replace(PASSWORD, "***")][0]
    assert_all_through(gateway.emulator, first, port, on_first)
    assert_all_through(gateway.emulator, second, port, on_second)

    # the second proxy goes down: the check marks it, its account moves to the first meanwhile
    second.stop()
    checked = {p["proxy"]: p for p in client.post("/api/proxies/check", json={}).json()["proxies"]}
    down = checked[second.url().replace(PASSWORD, "***")]
    assert not down["healthy"] and down["last_error"]
    gateway.emulator.clear_requests()
    _only(gateway, on_second)
    assert client.post(URL, json=ask("while it is down")).status_code == 200
    assert_all_through(gateway.emulator, first, port, on_second)

    # back up (same port): it passes the check and gets its account back
    revived = proxy_factory("socks5", port=second.port)
    checked = {p["proxy"]: p for p in client.post("/api/proxies/check", json={}).json()["proxies"]}
    assert checked[second.url().replace(PASSWORD, "***")]["healthy"]
    gateway.emulator.clear_requests()
    assert client.post(URL, json=ask("it is back")).status_code == 200
    assert_all_through(gateway.emulator, revived, port, on_second)
