"""Running things: ``agw serve``, ``agw demo`` and ``agw emulator``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from antigravity_gateway import __version__
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.cli.base import main, open_pool, run_async
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store.base import Account


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; AGW_HOST).")
@click.option("--port", default=None, type=int, help="Port (default 8045; AGW_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the gateway."""
    from antigravity_gateway.server import serve as run_server
    from antigravity_gateway.web.security import posture_warnings

    settings = load_settings(host=host, port=port)
    base = f"http://{settings.host if not settings.allow_lan else settings.bind_host}:{settings.port}"
    click.echo(f"Antigravity Gateway {__version__} on {base} (home {settings.home}); dashboard: {base}/ui")
    for warning in posture_warnings(settings):
        click.echo(f"warning: {warning}")
    run_server(settings)


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
        async with open_pool(settings) as pool:
            account = await pool.add(DEMO_REFRESH_TOKEN, label="demo")
            await ModelCatalog(pool).refresh(account)
            return account

    account = run_async(add())
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

  curl -s {base}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model":"gemini-2.5-flash","messages":[{{"role":"user","content":"Hello from OpenAI"}}]}}'
  curl -s {base}/v1/messages -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' \\
       -d '{{"model":"claude-sonnet-4-6","max_tokens":256,"messages":[{{"role":"user","content":"Hello from Anthropic"}}]}}'

  pip install google-genai && python -c "from google import genai; from google.genai import types; \\
c = genai.Client(api_key='any', http_options=types.HttpOptions(base_url='{base}')); \\
print(c.models.generate_content(model='gemini-2.5-flash', contents='Hello').text)"

  Dashboard: {base}/ui        Request log: agw logs tail -f   (set AGW_HOME={home} in that terminal)

Real use: add your Google accounts (`agw accounts add --refresh-token ...`) and run `agw serve`.
"""
    )
    try:
        run_server(settings)
    finally:
        server.stop()
