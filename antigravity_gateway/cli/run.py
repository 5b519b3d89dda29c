"""Running things: ``agw serve``, ``agw demo`` and ``agw emulator``."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click
from pydantic import ValidationError

from antigravity_gateway import __version__
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.cli.base import fail, main, open_pool, run_async
from antigravity_gateway.config_file import update_config
from antigravity_gateway.port import bind_error
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store import open_store
from antigravity_gateway.store.base import Account
from antigravity_gateway.upstream.proxies import redact


def port_problem(host: str, port: int) -> str | None:
    """Why the gateway could not listen on ``host:port`` (``None`` when it can), checked before anything
    is printed, so that a second gateway says so in one line instead of failing after its banner."""
    exc = bind_error(host, port)
    if exc is None:
        return None
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use (by another Antigravity Gateway?): use --port or AGW_PORT"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: use a port above 1023 (--port or AGW_PORT)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems} (see `agw help config`)")
        raise AssertionError("unreachable") from None


async def _usable_accounts(settings: Settings) -> tuple[int, int]:
    """Usable accounts, and user keys."""
    async with open_store(settings) as store:
        accounts = sum(1 for a in await store.list_accounts() if a.usable)
        return accounts, len(await store.list_keys())


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; AGW_HOST).")
@click.option("--port", default=None, type=int, help="Port (default 8045; AGW_PORT).")
@click.option(
    "--workers",
    default=None,
    metavar="N|auto",
    help="Processes serving the port (default 1; auto: one per core; AGW_WORKERS).",
)
def serve(host: str | None, port: int | None, workers: str | None) -> None:
    """Run the gateway."""
    from antigravity_gateway.web.security import posture_notes, posture_warnings

    settings = _settings(host=host, port=port, workers=workers)
    if problem := port_problem(settings.bind_host, settings.port):
        fail(problem)
    base = f"http://{settings.host if not settings.allow_lan else settings.bind_host}:{settings.port}"
    # a store that cannot open is one line, before the banner
    usable, user_keys = run_async(_usable_accounts(settings))
    several = f", {settings.workers} workers" if settings.workers > 1 else ""
    click.echo(
        f"Antigravity Gateway {__version__} on {base} (home {settings.home}{several}); dashboard: {base}/ui"
    )
    if settings.redis_url:
        click.echo(
            f"pool shared through Redis at {redact(settings.redis_url)} (keys {settings.redis_prefix}*)"
        )
    for note in posture_notes(settings, user_keys):
        click.echo(note)
    for warning in posture_warnings(settings, user_keys):
        click.echo(f"warning: {warning}")
    if usable == 0:
        click.echo(
            "warning: no usable account yet: every request will fail until you add one with "
            "`agw accounts login`, `agw accounts add --refresh-token 1//...` or the dashboard "
            f"({base}/ui); /readyz answers 503 until then"
        )
    _run_server(settings)


def _run_server(settings: Settings) -> None:
    """uvicorn until Ctrl-C; a start-up failure (the port taken since the check) exits 1 with one line."""
    from antigravity_gateway.server import serve as run_server

    try:
        run_server(settings)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        fail(
            port_problem(settings.bind_host, settings.port)
            or "the gateway could not start (see the log above)"
        )


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


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _demo_posture(settings: Settings, base: str) -> tuple[str, str]:
    """What the demo tells about its protection (API and dashboard), and the header its curl lines send."""
    mode = settings.effective_auth_mode
    dashboard = (
        f"Dashboard ({base}/ui) password: your AGW_ADMIN_PASSWORD."
        if settings.admin_password
        else "The dashboard is open to this machine (set AGW_ADMIN_PASSWORD to protect it)."
    )
    if mode == "off":
        text = (
            "Authentication: off. Any program on this machine can use the API without a key\n"
            "(set AGW_API_KEY and AGW_AUTH_MODE=strict to try it with one). " + dashboard
        )
        return text, ""
    if not settings.api_key:
        text = (
            f"Authentication: on ({mode}), but AGW_API_KEY is empty: every request will be refused.\n"
            "Set AGW_API_KEY, or AGW_AUTH_MODE=off. " + dashboard
        )
        return text, ""
    open_health = " (/healthz is open)" if mode == "all_except_health" else ""
    text = (
        f"Authentication: on ({mode}): every request needs your AGW_API_KEY{open_health}; the curl lines\n"
        f"below send it from $AGW_API_KEY. " + dashboard
    )
    return text, ' -H "x-goog-api-key: $AGW_API_KEY"'


@main.command()
@click.option("--port", default=None, type=int, help="Gateway port (default 8045; AGW_PORT).")
@click.option("--keep", is_flag=True, help="Keep the demo's data directory when the demo stops.")
def demo(port: int | None, keep: bool) -> None:
    """Try the gateway with no Google account: a bundled emulator of Google serves a demo account.

    It runs until Ctrl-C, and removes its throw-away data directory when it stops (unless --keep).
    AGW_PORT, AGW_API_KEY, AGW_AUTH_MODE and AGW_ADMIN_PASSWORD apply as they do to `agw serve`.
    """
    from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer

    home = Path(tempfile.mkdtemp(prefix="agw-demo-"))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server: EmulatorServer | None = None
    started = False
    try:
        # The demo's own home, so that nothing of the real one (its config.toml) is read; only AGW_*
        # variables and the flags apply, and the upstream is always the emulator.
        os.environ["AGW_HOME"] = str(home)
        probe = _settings(home=home, port=port, host="127.0.0.1", allow_lan=False)
        if problem := port_problem("127.0.0.1", probe.port):
            fail(problem)

        emu = Emulator()
        emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        emu.add_account(
            EmulatorAccount(email=DEMO_EMAIL, refresh_token=DEMO_REFRESH_TOKEN, client_id=DEMO_CLIENT_ID)
        )
        server = EmulatorServer(emu, host="127.0.0.1", port=0)
        server.start()
        upstream: dict[str, Any] = {
            "upstream_endpoints": [
                server.endpoint("sandbox"),
                server.endpoint("daily"),
                server.endpoint("prod"),
            ],
            "oauth_auth_url": server.auth_url,
            "oauth_token_url": server.token_url,
            "oauth_userinfo_url": server.userinfo_url,
            "oauth_client_id": DEMO_CLIENT_ID,
            "oauth_client_secret": DEMO_CLIENT_SECRET,
            "onboard_poll_interval": 0.2,
        }
        # Written into the home, so every `agw` command run with AGW_HOME set to it talks to the emulator.
        update_config(home / "config.toml", upstream)
        settings = _settings(home=home, port=port, host="127.0.0.1", allow_lan=False, **upstream)

        async def add() -> Account:
            async with open_pool(settings) as pool:
                account = await pool.add(DEMO_REFRESH_TOKEN, label="demo")
                await ModelCatalog(pool).refresh(account)
                return account

        account = run_async(add())
        _demo_banner(settings, server.url, account, keep)
        started = True
        _run_server(settings)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.stop()
        if keep and started:
            click.echo(f"Demo stopped; its data is kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
            if started:
                click.echo(f"Demo stopped; removed {home}")


def _demo_banner(settings: Settings, emulator_url: str, account: Account, keep: bool) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    posture, key = _demo_posture(settings, base)
    lan = (
        "\nNote: the demo listens on 127.0.0.1 only; AGW_ALLOW_LAN and AGW_HOST do not apply to it.\n"
        if os.environ.get("AGW_ALLOW_LAN", "").lower() in ("1", "true", "yes", "on")
        or os.environ.get("AGW_HOST")
        else ""
    )
    kept = "kept when the demo stops, as --keep asks" if keep else "removed when the demo stops"
    click.echo(
        f"""
DEMO MODE: the upstream is the bundled emulator of Google ({emulator_url}), a stand-in, not Google.
Demo account {account.email} was added the normal way (refresh, email, onboarding: project {account.project_id}).
Data for this run: {settings.home} ({kept})
{posture}{lan}
Gateway: {base}   (it runs until Ctrl-C)   Try, in another terminal:

  curl -s {base}/healthz{key}
  curl -s {base}/v1beta/models{key}
  curl -s {base}/v1beta/models/gemini-2.5-flash:generateContent{key} \\
       -H 'Content-Type: application/json' -d '{{"contents":[{{"role":"user","parts":[{{"text":"Hello"}}]}}]}}'
  curl -sN '{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse'{key} \\
       -H 'Content-Type: application/json' -d '{{"contents":[{{"parts":[{{"text":"Stream please"}}]}}]}}'

  curl -s {base}/v1/chat/completions{key} -H 'Content-Type: application/json' \\
       -d '{{"model":"gemini-2.5-flash","messages":[{{"role":"user","content":"Hello from OpenAI"}}]}}'
  curl -s {base}/v1/messages{key} -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' \\
       -d '{{"model":"claude-sonnet-4-6","max_tokens":256,"messages":[{{"role":"user","content":"Hello from Anthropic"}}]}}'

  pip install google-genai && python -c "from google import genai; from google.genai import types; \\
c = genai.Client(api_key='{"$AGW_API_KEY" if key else "any"}', http_options=types.HttpOptions(base_url='{base}')); \\
print(c.models.generate_content(model='gemini-2.5-flash', contents='Hello').text)"

  Dashboard: {base}/ui
  Every `agw` command works on this demo when AGW_HOME points at it (its config.toml names the emulator):
    export AGW_HOME={settings.home}
    agw logs tail -f        agw accounts quota        agw stats

Real use (in your own AGW_HOME): `agw accounts login` (or `agw accounts import`), `agw doctor`, then `agw serve`.
"""
    )
