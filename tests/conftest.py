"""Shared fixtures: the emulator of Google, a running gateway on a loopback port, a temp home.

``emulator`` is one server for the whole session whose state is reset for every test.
``gateway`` starts a real uvicorn server (in a thread) for one test against that emulator, with one
account already added the normal way; ``gateway_factory`` takes options (accounts, settings).
Everything waits on readiness, never on sleeps.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer
from antigravity_gateway.server import uvicorn_config
from antigravity_gateway.settings import Settings
from antigravity_gateway.store import open_store
from antigravity_gateway.store.base import Account
from antigravity_gateway.upstream.client import UpstreamClient
from tests.redis_server import RedisServer

CLIENT_ID = "test-client.apps.example"
CLIENT_SECRET = "test-secret"
ENDPOINTS = ("sandbox", "daily", "prod")


#: The machine's own proxy settings would route the tests' loopback traffic (the gateway honours them).
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own ~/.antigravity-gateway, AGW_* variables or proxy variables."""
    for name in list(os.environ):
        if name.startswith("AGW_") or name.lower() in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGW_HOME", str(tmp_path_factory.mktemp("agw-home")))


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer(Emulator(), host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[Emulator]:
    emu = emulator_server.emu
    emu.reset()
    emu.onboard_polls = 1
    emu.chunk_delay = 0.0
    emu.add_client(CLIENT_ID, CLIENT_SECRET)
    yield emu
    emu.reset()


def make_account(email: str, **kwargs: Any) -> EmulatorAccount:
    """An emulated Google account whose refresh token is ``1//<local part>``."""
    kwargs.setdefault("client_id", CLIENT_ID)
    return EmulatorAccount(email=email, refresh_token="1//" + email.split("@")[0], **kwargs)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_env(server: EmulatorServer, home: Path, *, client: bool = True) -> dict[str, str]:
    """The ``AGW_*`` variables of a home whose Google is the emulator, as a CLI or ``agw serve`` process
    gets them; ``client``: with the test OAuth client (else only the built-in profiles)."""
    env = {
        "AGW_HOME": str(home),
        "AGW_UPSTREAM_ENDPOINTS": ",".join(server.endpoint(n) for n in ENDPOINTS),
        "AGW_OAUTH_AUTH_URL": server.auth_url,
        "AGW_OAUTH_TOKEN_URL": server.token_url,
        "AGW_OAUTH_USERINFO_URL": server.userinfo_url,
        "AGW_ONBOARD_POLL_INTERVAL": "0.01",
    }
    if client:
        env |= {"AGW_OAUTH_CLIENT_ID": CLIENT_ID, "AGW_OAUTH_CLIENT_SECRET": CLIENT_SECRET}
    return env


def make_settings(home: Path, server: EmulatorServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "host": "127.0.0.1",
        "port": 0,
        "api_key": "",
        "auth_mode": "off",
        "upstream_endpoints": [server.endpoint(name) for name in ENDPOINTS],
        "oauth_auth_url": server.auth_url,
        "oauth_token_url": server.token_url,
        "oauth_userinfo_url": server.userinfo_url,
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "onboard_poll_interval": 0.01,
        "retry_max_wait": 3.0,
        "log_level": "INFO",
    }
    values.update(overrides)
    return Settings(**values)


async def add_accounts(
    settings: Settings, refresh_tokens: list[str], *, catalogs: bool = True
) -> list[Account]:
    """Add accounts the way ``agw accounts add`` does (refresh, email, project, models)."""
    added = []
    async with open_store(settings) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        for token in refresh_tokens:
            account = await pool.add(token)
            if catalogs:
                await ModelCatalog(pool).refresh(account)
            added.append(account)
    return added


class GatewayThread:
    """A uvicorn server running the gateway in a thread, on an ephemeral port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server = uvicorn.Server(uvicorn_config(settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)

    def start(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the gateway failed to start")
            self.thread.join(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Gateway:
    """A running gateway: ``url``, its ``settings``, its ``accounts`` and the emulator behind it."""

    url: str
    settings: Settings
    emulator: Emulator
    accounts: list[Account]
    thread: GatewayThread
    clients: list[httpx.Client] = field(default_factory=list)

    def http(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)
        self.clients.append(client)
        return client

    @property
    def state(self) -> Any:
        """The app's state (pool, scheduler, catalog): for assertions on what the gateway decided."""
        app = self.thread.server.config.loaded_app
        while not hasattr(app, "state"):
            app = app.app
        return app.state


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def gateway_factory(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> Iterator[GatewayFactory]:
    started: list[Gateway] = []

    def start(accounts: list[EmulatorAccount] | None = None, **overrides: Any) -> Gateway:
        if accounts is None:
            accounts = [make_account("alice@example.com")]
        for account in accounts:
            emulator.add_account(account)
        settings = make_settings(tmp_path / f"home{len(started)}", emulator_server, **overrides)
        added = asyncio.run(add_accounts(settings, [a.refresh_token for a in accounts])) if accounts else []
        thread = GatewayThread(settings)
        url = thread.start()
        gateway = Gateway(url=url, settings=settings, emulator=emulator, accounts=added, thread=thread)
        started.append(gateway)
        emulator.clear_requests()
        return gateway

    yield start
    for gateway in started:
        for client in gateway.clients:
            client.close()
        gateway.thread.stop()


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory()


# -- in CI, a test tool that is missing is a failure, not a skip ----------------------------------------


def _tool_missing_in_ci(report: pytest.CollectReport | pytest.TestReport) -> bool:
    return bool(os.environ.get("CI")) and report.skipped and "not installed" in str(report.longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if _tool_missing_in_ci(report):
        report.outcome = "failed"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    if _tool_missing_in_ci(report):
        report.outcome = "failed"
    return report


# -- Redis ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session (tests use their own key prefix, see ``redis_url``)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.command("FLUSHALL")
    return redis_server.url


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    """Private ``redis-server`` instances for one test (to stop, kill and restart)."""
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}").start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def add_key(gateway: Gateway, name: str, **options: Any) -> str:
    """Make a user key through the admin API (open on loopback without a password); its secret."""
    answer = gateway.http().post("/api/keys", json={"name": name, **options})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it is true (readiness, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
