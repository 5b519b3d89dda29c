"""``agw accounts ...``: managing the pool from the terminal."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import socket
import sys
import time
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import click
import orjson
from aiohttp import web

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.imports import SOURCES, default_location, missing_hint, read_paths
from antigravity_gateway.accounts.login import LoginFlows, parse_response
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.profiles import Profiles
from antigravity_gateway.accounts.transfer import ImportResult, export_accounts, import_accounts, plan_import
from antigravity_gateway.accounts.transfer import dry_run as dry_run_plan
from antigravity_gateway.cli.base import fail, has_data, main, open_pool, quiet_library_logs, run_async
from antigravity_gateway.cli.table import Column, clean, table, terminal_width
from antigravity_gateway.errors import GatewayError, ValidationRequired
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store.base import Account, Cooldown, https_url
from antigravity_gateway.upstream.client import UpstreamHTTPError

# -- accounts -------------------------------------------------------------------------------------


@main.group()
def accounts() -> None:
    """Manage the pool of Google accounts."""


_CLIENT_HELP = (
    "OAuth client profile: antigravity (the default), gemini-cli, or the label of a custom client "
    "(oauth_clients; the oauth_client_id one is 'primary')."
)


@accounts.command("add")
@click.option("--refresh-token", required=True, help="A Google OAuth refresh token (1//...).")
@click.option("--label", default="", help="A label to show next to the account.")
@click.option("--client", default="", help=_CLIENT_HELP + " Tried first; the others follow.")
def accounts_add(refresh_token: str, label: str, client: str) -> None:
    """Check a refresh token (token, email, project) and add the account. Exit 0 only if it works."""
    settings = load_settings()

    async def run() -> Account:
        async with open_pool(settings) as pool:
            try:
                account = await pool.add(refresh_token, label=label, client=client)
            except ValidationRequired as exc:
                fail(
                    f"{exc.message}. Open {https_url(exc.validation_url) or 'the link Google gives'} and add the account again."
                )
                raise
            with contextlib.suppress(GatewayError, UpstreamHTTPError):
                await ModelCatalog(pool).refresh(account)
            return account

    account = run_async(run())
    tier = f", tier {account.tier_name or account.tier_id}" if account.tier_id else ""
    click.echo(clean(f"added {account.email} (id {account.id}, project {account.project_id}{tier})"))


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    left = epoch - time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))
    if left <= 0:
        return stamp
    hours, rest = divmod(int(left), 3600)
    return (
        f"{stamp} (in {hours}h{rest // 60:02d}m)" if hours else f"{stamp} (in {rest // 60}m{rest % 60:02d}s)"
    )


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no secrets either way).")
def accounts_list(as_json: bool) -> None:
    """List the accounts, their state and reasons, and what they are cooling down for."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json):
        return

    async def run() -> tuple[list[Account], list[Cooldown]]:
        async with open_pool(settings) as pool:
            return list(pool.accounts.values()), await pool.store.list_cooldowns()

    rows, cooldowns = run_async(run())
    profiles = Profiles(settings)
    if as_json:
        data = []
        for account in rows:
            view = account.public_dict()
            view["client"] = profiles.name_of(account.oauth_client_id)
            view["cooldowns"] = [
                {"model": c.model, "until": c.until, "reason": c.reason, "message": c.message}
                for c in cooldowns
                if c.account_id == account.id
            ]
            data.append(view)
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo(
            "no accounts yet: add one with `agw accounts add --refresh-token 1//...` or `agw accounts login`"
        )
        return
    columns = [
        Column("ID"),
        Column("EMAIL"),
        Column("LABEL", wrap=True),
        Column("CLIENT", wrap=True),
        Column("TIER", wrap=True),
        Column("STATUS"),
        Column("REASON", wrap=True),
    ]
    cells: list[list[object]] = []
    for a in rows:
        reason = a.status_reason + (f" (verify: {a.validation_url})" if a.validation_url else "")
        if a.status_until and a.status != "enabled":
            reason += f"; retried after {_when(a.status_until)}"
        client = profiles.name_of(a.oauth_client_id)
        cells.append(
            [a.id, a.email, a.label or "-", client, a.tier_name or a.tier_id or "-", a.status, reason]
        )
        for c in cooldowns:
            if c.account_id == a.id:
                model = "all models" if c.model == "*" else c.model
                cells.append(
                    ["", "", "", "", "", "", f"cooling down for {model} until {_when(c.until)}: {c.reason}"]
                )
    for line in table(columns, cells):
        click.echo(line)


@accounts.command("quota")
@click.option(
    "--refresh/--cached", default=True, show_default=True, help="Ask Google now, or show what is stored."
)
@click.option("--json", "as_json", is_flag=True)
def accounts_quota(refresh: bool, as_json: bool) -> None:
    """Per-model quota left and reset times, and the 5-hour / weekly buckets, for every account.

    Exits 1 when the quota of any account could not be fetched (what was fetched before is shown,
    with its age)."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json):
        return

    async def run() -> tuple[list[tuple[Account, dict[str, Any]]], dict[str, str]]:
        failures: dict[str, str] = {}
        async with open_pool(settings) as pool:
            catalog = ModelCatalog(pool)
            await catalog.load()
            if refresh:
                for account in [a for a in pool.accounts.values() if a.usable]:
                    try:
                        await catalog.refresh(account)
                    except (GatewayError, UpstreamHTTPError) as exc:
                        failures[account.id] = getattr(exc, "message", str(exc))
            return [(a, catalog.quota_view(a.id)) for a in pool.accounts.values()], failures

    with quiet_library_logs():
        views, failures = run_async(run())
    if as_json:
        click.echo(
            orjson.dumps(
                [
                    {
                        "account": a.public_dict(),
                        **q,
                        **({"error": failures[a.id]} if a.id in failures else {}),
                    }
                    for a, q in views
                ],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
    else:
        _show_quota(views, failures)
    if not views:
        click.echo("no accounts yet: add one with `agw accounts add --refresh-token 1//...`", err=as_json)
    if failures:
        click.echo(
            f"error: the quota of {len(failures)} of {len(views)} account(s) could not be fetched", err=True
        )
        sys.exit(1)


def _show_quota(views: list[tuple[Account, dict[str, Any]]], failures: dict[str, str]) -> None:
    width = terminal_width()
    for account, quota in views:
        tier = account.tier_name or account.tier_id or "unknown tier"
        click.echo(clean(f"{account.email} ({tier}, {account.status})"))
        if account.id in failures:
            click.echo(clean(f"  could not fetch its quota: {failures[account.id]}"))
            if quota["fetched_at"]:
                click.echo(f"  showing what was fetched at {_when(quota['fetched_at'])}:")
        if not quota["models"]:
            click.echo("  no quota known yet")
            continue
        rows: list[list[object]] = []
        for model in quota["models"]:
            remaining = "?" if model["remaining"] is None else f"{model['remaining'] * 100:5.1f}%"
            rows.append(
                [model["id"], _bar(model["remaining"]), remaining, f"resets {_when(model['reset_time'])}"]
            )
        for bucket in quota["buckets"]:
            remaining = "?" if bucket["remaining"] is None else f"{bucket['remaining'] * 100:5.1f}%"
            name = f"{bucket['group']}: {bucket['display_name']}"
            rows.append([name, _bar(bucket["remaining"]), remaining, f"resets {_when(bucket['reset_time'])}"])
        columns = [
            Column("MODEL OR BUCKET", wrap=True),
            Column("LEFT"),
            Column("", ">"),
            Column("", wrap=True),
        ]
        for line in table(columns, rows, width=None if width is None else width - 2):
            click.echo("  " + line)


def _bar(fraction: float | None, width: int = 20) -> str:
    if fraction is None:
        return " " * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "#" * filled + "." * (width - filled)


@accounts.command("login")
@click.option(
    "--no-browser", is_flag=True, help="Do not open a browser; print the link and wait for a paste."
)
@click.option(
    "--port", default=0, type=int, help="Loopback port for Google's redirect (default: any free one)."
)
@click.option("--login-hint", default="", help="The Google account to preselect (email).")
@click.option("--client", default="", help=_CLIENT_HELP)
def accounts_login(no_browser: bool, port: int, login_hint: str, client: str) -> None:
    """Add an account by logging in with Google (works over SSH: paste the redirected URL or the code)."""
    settings = load_settings()

    async def run() -> Account:
        async with open_pool(settings) as pool:
            flows = LoginFlows(pool.oauth, pool.store)
            async with loopback_receiver(port) as (redirect_uri, received):
                flow = await flows.start(redirect_uri, login_hint=login_hint, client=client)
                click.echo("Open this link in a browser and allow access:\n")
                click.echo(f"  {flow.url}\n")
                if not no_browser and _has_browser():
                    webbrowser.open(flow.url)
                click.echo(
                    "Waiting for Google to redirect back. On another machine (SSH, container), the redirect "
                    "fails: copy the URL of that failed page (or just its code) and paste it here."
                )
                response = await _first_of(received, _read_line("Redirected URL or code: "))
            code, state = parse_response(response)
            taken = await flows.take(state or flow.state)
            token = await flows.refresh_token_for(taken, code)
            account = await pool.add(token, client=taken.client_id)
            with contextlib.suppress(GatewayError, UpstreamHTTPError):
                await ModelCatalog(pool).refresh(account)
            return account

    account = run_async(run())
    click.echo(clean(f"added {account.email} (id {account.id}, project {account.project_id})"))


def _has_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _read_line(prompt: str) -> str:
    def read() -> str:
        click.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    try:
        return await asyncio.get_running_loop().run_in_executor(None, read)
    except EOFError:
        await asyncio.Event().wait()  # no terminal input: only the loopback redirect can finish the login
        raise


async def _first_of(*waiters: Awaitable[str]) -> str:
    tasks = [asyncio.ensure_future(w) for w in waiters]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for task in tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def loopback_receiver(port: int) -> AsyncIterator[tuple[str, asyncio.Future[str]]]:
    """A one-shot HTTP listener on 127.0.0.1 for Google's redirect; yields (redirect_uri, future of URL)."""
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if not received.done():
            received.set_result(str(request.url))
        return web.Response(
            text="Antigravity Gateway received the login. You can close this tab and return to the terminal.",
            content_type="text/plain",
        )

    app = web.Application()
    app.router.add_get("/oauth2callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{bound}/oauth2callback", received
    finally:
        await runner.cleanup()


_SOURCE_HELP = "Read a tool's default location: " + "; ".join(f"{k} ({v})" for k, v in SOURCES.items()) + "."


@accounts.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--from", "sources", multiple=True, type=click.Choice(list(SOURCES)), help=_SOURCE_HELP + " Repeatable."
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing, ask Google nothing.")
def accounts_import(paths: tuple[Path, ...], sources: tuple[str, ...], dry_run: bool) -> None:
    """Add accounts from files, folders or other tools' default locations.

    Reads gemini-cli's oauth_creds.json, Antigravity Tools' data folder ($ABV_DATA_DIR) and its export,
    CLIProxyAPI's antigravity-*.json, gcli2api credential files (.json or .zip), JSON arrays of
    {email, refresh_token} and any text with 1//... refresh tokens (the format is told from the
    content). Duplicates are merged by email (the newer token wins); each account is checked end to
    end, as `accounts add` does. Exit 1 when an entry failed."""
    settings = load_settings()
    targets = list(paths)
    for name in sources:
        location = default_location(name)
        if not location.exists():
            fail(f"{name}: nothing at {location}{missing_hint(name)}")
        targets.append(location)
    if not targets:
        fail("name files or folders to import, or --from " + "|".join(SOURCES))
    try:
        plan = plan_import(read_paths(targets))
    except GatewayError as exc:
        fail(exc.message)  # nothing was imported: the files are all read first
    if not plan.total:
        fail("nothing to import in " + ", ".join(str(t) for t in targets))

    new_clients = [c for c in plan.clients if all(c.id != o.id for o in settings.all_oauth_clients)]
    if dry_run:
        known: list[Account] = []
        if settings.db_path.exists() or settings.redis_url:

            async def accounts_now() -> list[Account]:
                async with open_pool(settings) as pool:
                    return list(pool.accounts.values())

            known = run_async(accounts_now())
        _import_report(dry_run_plan(plan, known), dry_run=True)
        for client in new_clients:
            click.echo(
                clean(f"would add OAuth client {client.label} (client id {client.id}) to oauth_clients")
            )
        click.echo("dry run: nothing was changed")
        return

    async def run() -> list[ImportResult]:
        results = []
        async with open_pool(settings) as pool:
            with click.progressbar(length=plan.total, label="importing", file=sys.stderr) as bar:
                async for result in import_accounts(pool, plan, settings=settings):
                    results.append(result)
                    if result.action != "skipped" or not result.reason.startswith("duplicate"):
                        bar.update(1)
        return results

    with quiet_library_logs():
        results = run_async(run())
    _import_report(results, dry_run=False)
    saved = [c for c in new_clients if any(r.ok and r.client == c.id for r in results)]
    for client in saved:
        click.echo(
            clean(
                f"added OAuth client {client.label} (client id {client.id}) to oauth_clients in config.toml; "
                "restart a running gateway for it to refresh these accounts"
            )
        )
    if any(r.action == "failed" for r in results):
        sys.exit(1)


def _import_report(results: list[ImportResult], *, dry_run: bool) -> None:
    would = {"added": "would add", "updated": "would update", "skipped": "would skip", "failed": "would fail"}
    for r in results:
        verb = would[r.action] if dry_run else r.action
        email = f" {r.email}" if r.email else ""
        reason = f": {r.reason}" if r.reason else ""
        click.echo(clean(f"{r.place}: {verb}{email}{reason}"))
    counts = {action: sum(1 for r in results if r.action == action) for action in would}
    summary = ", ".join(f"{n} {would[action] if dry_run else action}" for action, n in counts.items())
    click.echo(("dry run: " if dry_run else "") + summary)


@accounts.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (mode 0600)."
)
def accounts_export(output: str | None) -> None:
    """Write every account as JSON [{email, refresh_token}] (for `agw accounts import` elsewhere).

    With an admin password set, asks for it (unless AGW_ADMIN_PASSWORD is in the environment)."""
    settings = load_settings()
    if settings.admin_password and "AGW_ADMIN_PASSWORD" not in os.environ:
        given = click.prompt("Admin password", hide_input=True, default="", show_default=False, err=True)
        if not hmac.compare_digest(given.encode(), settings.admin_password.encode()):
            fail("wrong admin password: the export holds every refresh token, so it needs the admin password")

    async def run() -> bytes:
        async with open_pool(settings) as pool:
            return export_accounts(pool)

    data = run_async(run())
    click.echo("warning: the export contains refresh tokens: anyone with it can use these accounts", err=True)
    if output:
        path = Path(output)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data + b"\n")
        os.chmod(path, 0o600)
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(data.decode())


@accounts.command("label")
@click.argument("id_or_email")
@click.argument("label")
def accounts_label(id_or_email: str, label: str) -> None:
    """Set an account's label (use "" to clear it)."""
    _update(id_or_email, label=label)


@accounts.command("priority")
@click.argument("id_or_email")
@click.argument("priority", type=int)
def accounts_priority(id_or_email: str, priority: int) -> None:
    """Set an account's priority: higher is chosen first (default 0)."""
    _update(id_or_email, priority=priority)


def _no_account_without_data(settings: Settings, id_or_email: str) -> None:
    """Commands on one account, on a home without data: the account is not there (create nothing)."""
    if not settings.db_path.exists() and not settings.redis_url:
        fail(f"no account {id_or_email!r}: no data yet at {settings.db_path}")


def _update(id_or_email: str, **fields: Any) -> None:
    settings = load_settings()
    _no_account_without_data(settings, id_or_email)

    async def run() -> Account:
        async with open_pool(settings) as pool:
            account = pool.find(id_or_email)
            await pool.update(account, **fields)
            return account

    account = run_async(run())
    click.echo(clean(f"updated {account.email}: " + ", ".join(f"{k} {v!r}" for k, v in fields.items())))


def _account_command(
    name: str, done: str, help_text: str, action: Callable[[AccountPool, Account], Awaitable[None]]
) -> None:
    @accounts.command(name, help=help_text)
    @click.argument("id_or_email")
    def command(id_or_email: str) -> None:
        settings = load_settings()
        _no_account_without_data(settings, id_or_email)

        async def run() -> str:
            async with open_pool(settings) as pool:
                account = pool.find(id_or_email)
                await action(pool, account)
                return account.email

        click.echo(clean(f"{done} {run_async(run())}"))


async def _remove(pool: AccountPool, account: Account) -> None:
    await pool.remove(account)


async def _disable(pool: AccountPool, account: Account) -> None:
    await pool.set_status(account, "disabled", "disabled by the user")


async def _enable(pool: AccountPool, account: Account) -> None:
    await pool.set_status(account, "enabled")


_account_command("remove", "removed", "Remove an account (by id or email).", _remove)
_account_command("disable", "disabled", "Keep an account but stop using it.", _disable)
_account_command("enable", "enabled", "Use an account again (also after it was blocked).", _enable)
