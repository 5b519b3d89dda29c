"""The proxy rules without a network: URLs, redaction, the environment, the pool's choice, the store."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.cli import main
from antigravity_gateway.errors import ProxyFailed
from antigravity_gateway.server import RedactingFilter
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.store.crypto import PREFIX
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from antigravity_gateway.upstream.proxies import ProxyHealth, ProxyPool, check_url, env_proxy, redact

PW = "pa55-w0rd"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"socks5h://me:{PW}@10.0.0.2:1080", "socks5h://me:***@10.0.0.2:1080"),
        (f"http://me:{PW}@proxy.example:3128", "http://me:***@proxy.example:3128"),
        ("http://me@proxy.example:3128", "http://me@proxy.example:3128"),
        ("https://proxy.example", "https://proxy.example"),
        ("", ""),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://me:{PW}@h:21",  # scheme
        f"socks5://me:{PW}@h",  # SOCKS without a port
        f"http://me:{PW}@h:3128/path",
        f"http://me:{PW}@:3128",  # no host
        f"http://me:{PW}@h:99999",  # port
    ],
)
def test_bad_proxy_urls_are_refused_without_their_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        check_url(url)
    assert PW not in str(info.value)
    with pytest.raises(ValidationError) as settings_info:
        Settings(upstream_proxies=[url])
    assert all(PW not in e["msg"] for e in settings_info.value.errors())


def test_settings_take_a_proxy_and_a_comma_separated_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_UPSTREAM_PROXY", " socks5h://u:p@127.0.0.1:1080 ")
    monkeypatch.setenv("AGW_UPSTREAM_PROXIES", "http://a:3128, socks5://b:1080")
    settings = Settings()
    assert settings.upstream_proxy == "socks5h://u:p@127.0.0.1:1080"
    assert settings.upstream_proxies == ["http://a:3128", "socks5://b:1080"]


def test_config_show_and_errors_hide_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_UPSTREAM_PROXY", f"http://me:{PW}@127.0.0.1:3128")
    monkeypatch.setenv("AGW_UPSTREAM_PROXIES", f"socks5://me:{PW}@127.0.0.1:1080")
    shown = CliRunner().invoke(main, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    assert 'upstream_proxy = "http://me:***@127.0.0.1:3128"' in shown.output
    assert "socks5://me:***@127.0.0.1:1080" in shown.output and PW not in shown.output
    monkeypatch.setenv("AGW_UPSTREAM_PROXY", f"gopher://me:{PW}@127.0.0.1:3128")
    refused = CliRunner().invoke(main, ["serve"])
    assert refused.exit_code == 1 and "upstream_proxy" in refused.output and PW not in refused.output


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert env_proxy("https://cloudcode-pa.googleapis.com/v1internal") == ""
    monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    assert env_proxy("https://cloudcode-pa.googleapis.com/v1internal") == "socks5h://127.0.0.1:1080"
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert env_proxy("https://cloudcode-pa.googleapis.com/v1internal") == "http://127.0.0.1:3128"
    assert env_proxy("http://127.0.0.1:9/x") == "socks5h://127.0.0.1:1080"  # plain http: ALL_PROXY
    monkeypatch.setenv("NO_PROXY", "googleapis.com")
    assert env_proxy("https://cloudcode-pa.googleapis.com/v1internal") == ""
    assert env_proxy("https://oauth2.example.com/token") == "http://127.0.0.1:3128"


def _health(ok: bool) -> ProxyHealth:
    return ProxyHealth("p", ok, 1.0, "" if ok else "down")


def test_pool_spreads_sticks_skips_and_returns() -> None:
    pool = ProxyPool(["http://p1:1", "http://p2:2"], fallback="http://global:3")
    homes = {a: pool.for_account(a) for a in ("a", "b", "c", "d")}
    assert sorted(homes.values()) == ["http://p1:1", "http://p1:1", "http://p2:2", "http://p2:2"]
    assert {a: pool.for_account(a) for a in homes} == homes  # sticky
    assert pool.for_account("a", "socks5://own:4") == "socks5://own:4"  # its own comes first

    pool.note_failure("http://p2:2", "connection refused")
    assert pool.state("http://p2:2").failures == 1 and not pool.state("http://p2:2").healthy
    assert {pool.for_account(a) for a in homes} == {"http://p1:1"}  # skipped while it fails
    assert pool.for_account("e") == "http://p1:1"
    pool.note_health("http://p2:2", _health(True))
    assert {a: pool.for_account(a) for a in homes} == homes  # back home once it passes

    pool.note_health("http://p1:1", _health(False))
    pool.note_health("http://p2:2", _health(False))
    assert pool.for_account("a") == homes["a"]  # all down: its own, whose error names it
    pool.forget("a")
    assert "a" not in pool.state(homes["a"]).accounts


def test_without_a_pool_the_global_proxy_or_none() -> None:
    assert ProxyPool([], fallback="http://global:3").for_account("a") == "http://global:3"
    assert ProxyPool([], fallback="http://global:3").default() == "http://global:3"
    assert ProxyPool([]).for_account("a") == ""
    pool = ProxyPool([])
    pool.note_failure("http://own:1", "refused")  # an account's own proxy: counted, not a pool member
    assert pool.state("http://own:1").failures == 1 and pool.pool == []
    assert not pool.state("http://own:1").healthy
    pool.note_request("http://own:1")
    assert pool.state("http://own:1").healthy  # shown failing until a call goes through again


def test_a_proxy_that_does_not_answer_is_named_and_not_retried_elsewhere(tmp_path: Path) -> None:
    """A proxy that never accepts (its backlog full): the connect timeout is the proxy's failure."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        proxy = f"http://me:{PW}@127.0.0.1:{port}"
        settings = Settings(
            home=tmp_path,
            upstream_proxy=proxy,
            upstream_connect_timeout=0.3,
            upstream_endpoints=[f"http://127.0.0.1:9/{name}/v1internal" for name in ("a", "b", "c")],
        )

        async def call() -> None:
            async with UpstreamClient(settings) as client:
                try:
                    await client.call("generateContent", b"{}", "token")
                finally:
                    assert client.proxies.state(proxy).failures == 1  # once: no other endpoint tried

        try:
            with pytest.raises(ProxyFailed) as info:
                asyncio.run(call())
        finally:
            for filler in fillers:
                filler.close()
    assert (
        info.value.message
        == f"upstream proxy http://me:***@127.0.0.1:{port} failed: timed out connecting to the proxy"
    )


def test_pool_proxies_are_the_same_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, upstream_proxies=["http://p1:1", "http://p2:2", "http://p3:3"])

    async def homes(new: list[str], *, reverse: bool = False) -> dict[str, str]:
        async with SQLiteStore(settings.db_path) as store:
            for email in new:
                await store.save_account(Account(email=email, refresh_token="1//" + email))
            pool = AccountPool(settings, store, UpstreamClient(settings))  # a new process
            await pool.load()
            accounts = list(pool.accounts.values())
            return {a.email: pool.proxy_of(a) for a in (reversed(accounts) if reverse else accounts)}

    first = asyncio.run(homes([f"user{i}@example.com" for i in range(6)]))
    assert sorted(first.values()) == sorted(["http://p1:1", "http://p2:2", "http://p3:3"] * 2)
    # asked in another order: the choice was made when the pool loaded, in the store's order
    assert asyncio.run(homes([], reverse=True)) == first


def test_the_log_filter_scrubs_proxy_passwords() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "via %s and %s", None, None)
    record.args = (f"socks5h://me:{PW}@10.0.0.2:1080", f"http://u:{PW}@x@h:3128/a@b")
    RedactingFilter().filter(record)
    assert record.getMessage() == "via socks5h://me:***@10.0.0.2:1080 and http://u:***@h:3128/a@b"


def test_account_views_and_the_store_keep_the_password_secret(tmp_path: Path) -> None:
    url = f"socks5://me:{PW}@127.0.0.1:1080"
    account = Account(email="a@example.com", refresh_token="1//a", proxy_url=url)
    assert account.public_dict()["proxy_url"] == "socks5://me:***@127.0.0.1:1080"
    assert PW not in repr(account)

    db = tmp_path / "gateway.db"

    async def save_and_list() -> list[Account]:
        async with SQLiteStore(db, secret_key="a key of at least some length") as store:
            await store.save_account(account)
        async with SQLiteStore(db, secret_key="a key of at least some length") as store:
            return await store.list_accounts()

    (back,) = asyncio.run(save_and_list())
    assert back.proxy_url == url
    with sqlite3.connect(db) as conn:
        ((raw,),) = conn.execute("SELECT proxy_url FROM accounts").fetchall()
    assert raw.startswith(PREFIX) and PW not in raw
