"""``agw``: the command line. Thin commands over the library; every error is one readable line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import orjson

from antigravity_gateway import __version__
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import GatewayError, ValidationRequired
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient, UpstreamHTTPError

T = TypeVar("T")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except GatewayError as exc:
        _fail(exc.message)
    except UpstreamHTTPError as exc:
        _fail(f"Google answered {exc.error.http_status} {exc.error.status}: {exc.error.message}")
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[AccountPool]:
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        yield pool


@click.group()
@click.version_option(__version__, prog_name="agw")
def main() -> None:
    """Antigravity Gateway: Gemini, OpenAI and Anthropic clients on a pool of Google accounts."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; AGW_HOST).")
@click.option("--port", default=None, type=int, help="Port (default 8045; AGW_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the gateway."""
    from antigravity_gateway.server import serve as run_server

    settings = load_settings(host=host, port=port)
    click.echo(
        f"Antigravity Gateway {__version__} on http://{settings.bind_host}:{settings.port} (home {settings.home})"
    )
    run_server(settings)


# -- accounts -------------------------------------------------------------------------------------


@main.group()
def accounts() -> None:
    """Manage the pool of Google accounts."""


@accounts.command("add")
@click.option("--refresh-token", required=True, help="A Google OAuth refresh token (1//...).")
@click.option("--label", default="", help="A label to show next to the account.")
def accounts_add(refresh_token: str, label: str) -> None:
    """Check a refresh token (token, email, project) and add the account. Exit 0 only if it works."""
    settings = load_settings()

    async def run() -> Account:
        async with _pool(settings) as pool:
            try:
                account = await pool.add(refresh_token, label=label)
            except ValidationRequired as exc:
                _fail(
                    f"{exc.message}. Open {exc.validation_url or 'the link Google gives'} and add the account again."
                )
                raise
            with contextlib.suppress(GatewayError, UpstreamHTTPError):
                await ModelCatalog(pool).refresh(account)
            return account

    account = _run(run())
    tier = f", tier {account.tier_name or account.tier_id}" if account.tier_id else ""
    click.echo(f"added {account.email} (id {account.id}, project {account.project_id}{tier})")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no secrets either way).")
def accounts_list(as_json: bool) -> None:
    """List the accounts and their state."""
    settings = load_settings()

    async def run() -> list[Account]:
        async with _pool(settings) as pool:
            return list(pool.accounts.values())

    rows = _run(run())
    if as_json:
        click.echo(orjson.dumps([a.public_dict() for a in rows], option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no accounts yet: add one with `agw accounts add --refresh-token 1//...`")
        return
    click.echo(f"{'ID':<13} {'EMAIL':<32} {'STATUS':<20} {'PROJECT':<24} REASON")
    for a in rows:
        reason = a.status_reason + (f" ({a.validation_url})" if a.validation_url else "")
        click.echo(f"{a.id:<13} {a.email:<32} {a.status:<20} {a.project_id or '-':<24} {reason}")


def _account_command(
    name: str, done: str, help_text: str, action: Callable[[AccountPool, Account], Awaitable[None]]
) -> None:
    @accounts.command(name, help=help_text)
    @click.argument("id_or_email")
    def command(id_or_email: str) -> None:
        settings = load_settings()

        async def run() -> str:
            async with _pool(settings) as pool:
                account = pool.find(id_or_email)
                await action(pool, account)
                return account.email

        click.echo(f"{done} {_run(run())}")


async def _remove(pool: AccountPool, account: Account) -> None:
    await pool.remove(account)


async def _disable(pool: AccountPool, account: Account) -> None:
    await pool.set_status(account, "disabled", "disabled by the user")


async def _enable(pool: AccountPool, account: Account) -> None:
    await pool.set_status(account, "enabled")


_account_command("remove", "removed", "Remove an account (by id or email).", _remove)
_account_command("disable", "disabled", "Keep an account but stop using it.", _disable)
_account_command("enable", "enabled", "Use an account again (also after it was blocked).", _enable)


# -- emulator and demo ----------------------------------------------------------------------------

DEMO_CLIENT_ID = "demo-client.apps.example"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_REFRESH_TOKEN = "1//demo-refresh-token"
DEMO_EMAIL = "demo@example.com"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8046, type=int, show_default=True)
@click.option("--demo-account/--no-demo-account", default=True, show_default=True, help="Add a demo account.")
def emulator(host: str, port: int, demo_account: bool) -> None:
    """Run the bundled emulator of Google's OAuth and v1internal (a stand-in for Google, for offline use)."""
    from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer

    emu = Emulator()
    if demo_account:
        emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        emu.add_account(
            EmulatorAccount(email=DEMO_EMAIL, refresh_token=DEMO_REFRESH_TOKEN, client_id=DEMO_CLIENT_ID)
        )
    server = EmulatorServer(emu, host=host, port=port)
    server.start()
    click.echo(f"Emulator of Google (a stand-in, not Google) at {server.url}")
    click.echo("Point the gateway at it:")
    click.echo(f"  export AGW_UPSTREAM_ENDPOINTS={server.endpoint('daily')}")
    click.echo(
        f"  export AGW_OAUTH_TOKEN_URL={server.token_url} AGW_OAUTH_USERINFO_URL={server.userinfo_url}"
    )
    if demo_account:
        click.echo(
            f"  export AGW_OAUTH_CLIENT_ID={DEMO_CLIENT_ID} AGW_OAUTH_CLIENT_SECRET={DEMO_CLIENT_SECRET}"
        )
        click.echo(f"  agw accounts add --refresh-token {DEMO_REFRESH_TOKEN}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


@main.command()
@click.option("--port", default=8045, type=int, show_default=True, help="Gateway port.")
def demo(port: int) -> None:
    """Try the gateway with no Google account: a bundled emulator of Google serves a demo account."""
    from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer
    from antigravity_gateway.server import serve as run_server

    emu = Emulator()
    emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    emu.add_account(
        EmulatorAccount(email=DEMO_EMAIL, refresh_token=DEMO_REFRESH_TOKEN, client_id=DEMO_CLIENT_ID)
    )
    server = EmulatorServer(emu, host="127.0.0.1", port=0)
    server.start()
    home = Path(tempfile.mkdtemp(prefix="agw-demo-"))
    settings = Settings(
        home=home,
        host="127.0.0.1",
        port=port,
        api_key="",
        auth_mode="off",
        upstream_endpoints=[server.endpoint("sandbox"), server.endpoint("daily"), server.endpoint("prod")],
        oauth_auth_url=server.auth_url,
        oauth_token_url=server.token_url,
        oauth_userinfo_url=server.userinfo_url,
        oauth_client_id=DEMO_CLIENT_ID,
        oauth_client_secret=DEMO_CLIENT_SECRET,
        onboard_poll_interval=0.2,
    )

    async def add() -> Account:
        async with _pool(settings) as pool:
            account = await pool.add(DEMO_REFRESH_TOKEN, label="demo")
            await ModelCatalog(pool).refresh(account)
            return account

    account = _run(add())
    base = f"http://127.0.0.1:{port}"
    click.echo(
        f"""
DEMO MODE: the upstream is the bundled emulator of Google ({server.url}), a stand-in, not Google.
Demo account {account.email} was added the normal way (refresh, email, onboarding: project {account.project_id}).
Data for this run: {home}

Gateway: {base}   (Ctrl-C to stop)   Try, in another terminal:

  curl -s {base}/healthz
  curl -s {base}/v1beta/models
  curl -s {base}/v1beta/models/gemini-2.5-flash:generateContent \\
       -H 'Content-Type: application/json' -d '{{"contents":[{{"role":"user","parts":[{{"text":"Hello"}}]}}]}}'
  curl -sN '{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' \\
       -H 'Content-Type: application/json' -d '{{"contents":[{{"parts":[{{"text":"Stream please"}}]}}]}}'

  python -c "from google import genai; from google.genai import types; \\
c = genai.Client(api_key='any', http_options=types.HttpOptions(base_url='{base}')); \\
print(c.models.generate_content(model='gemini-2.5-flash', contents='Hello').text)"

Real use: add your Google accounts (`agw accounts add --refresh-token ...`) and run `agw serve`.
"""
    )
    try:
        run_server(settings)
    finally:
        server.stop()
