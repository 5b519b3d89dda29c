"""Operating a gateway: ``agw logs``, ``agw stats``, ``agw config``, ``agw cooldowns``, ``agw bindings``.

They work on the store and ``config.toml`` directly, so they also work while ``agw serve`` runs: the
gateway picks up changes within two seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import click
import orjson

from antigravity_gateway.cli.base import fail, has_data, main, run_async
from antigravity_gateway.cli.table import Column, clean, table
from antigravity_gateway.config_file import LIVE_KEYS, read_config, update_config, validated
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store import open_store
from antigravity_gateway.store.base import RequestQuery, RequestRecord, Store
from antigravity_gateway.upstream.proxies import redact

SECRET_SETTINGS = frozenset(
    {"api_key", "admin_password", "metrics_token", "oauth_client_secret", "oauth_clients", "secret_key"}
)


@contextlib.asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Store]:
    async with open_store(settings) as store:
        yield store


def _line(r: RequestRecord) -> str:
    """One request per line (``--follow`` prints them as they come); every value from outside is cleaned."""
    stamp = time.strftime("%H:%M:%S", time.localtime(r.ts))
    model = clean(r.model or "-") + (
        f"->{clean(r.upstream_model)}" if r.upstream_model and r.upstream_model != r.model else ""
    )
    ttfb = f" ttfb {r.ttfb_ms:.0f}ms" if r.ttfb_ms is not None else ""
    tokens = f" in {r.input_tokens} out {r.output_tokens}" + (
        f" cached {r.cached_tokens}" if r.cached_tokens else ""
    )
    error = f"  {clean(r.error)}" if r.error else ""
    key = f" key {clean(r.key_name)}" if r.key_name else ""
    return (
        f"{stamp} {r.status:>3} {clean(r.protocol):<9} {model:<40} {clean(r.account_email or '-'):<28} "
        f"{r.duration_ms:7.0f}ms{ttfb}{tokens}{' stream' if r.stream else ''}{key}{error}"
    )


@main.group()
def logs() -> None:
    """The request log."""


@logs.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, help="How many recent requests to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new requests (Ctrl-C to stop).")
@click.option("--errors", is_flag=True, help="Only failed requests.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def logs_tail(lines: int, follow: bool, errors: bool, as_json: bool) -> None:
    """Show the latest requests: time, status, protocol, model, account, duration, tokens, error."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json, empty_json=""):
        return

    def show(records: list[RequestRecord]) -> None:
        for r in records:
            click.echo(orjson.dumps(r.public_dict()).decode() if as_json else _line(r))

    async def run() -> None:
        async with _store(settings) as store:
            records = await store.query_requests(RequestQuery(limit=lines, errors_only=errors))
            show(list(reversed(records)))
            if not records and not as_json:
                click.echo(
                    f"no {'failed ' if errors else ''}requests logged yet"
                    + (" (waiting for new ones; Ctrl-C to stop)" if follow else "")
                )
            last = records[0].id if records else 0
            while follow:
                await asyncio.sleep(1.0)
                new = await store.query_requests(RequestQuery(limit=1000, after_id=last, errors_only=errors))
                if new:
                    show(list(reversed(new)))
                    last = new[0].id or last

    with contextlib.suppress(KeyboardInterrupt):
        run_async(run())


@main.command()
@click.option("--period", type=click.Choice(["hour", "day"]), default="hour", show_default=True)
@click.option("--hours", default=24.0, show_default=True, help="How far back.")
@click.option(
    "--by", "group", type=click.Choice(["model", "account", "key"]), default="model", show_default=True
)
@click.option("--json", "as_json", is_flag=True)
def stats(period: str, hours: float, group: str, as_json: bool) -> None:
    """Requests, errors and tokens per model, account or user key, per hour or day (with --by key, "-"
    is the operator's key or no key)."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json):
        return

    async def run() -> list[dict[str, Any]]:
        async with _store(settings) as store:
            return await store.request_stats(since=time.time() - hours * 3600, bucket=period, group=group)

    rows = run_async(run())
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo(f"no requests in the last {hours:g} hours")
        return
    fmt = "%Y-%m-%d %H:00" if period == "hour" else "%Y-%m-%d"
    columns = [
        Column(period.upper()),
        Column(group.upper(), wrap=True),
        *(Column(name, ">") for name in ("REQ", "ERR", "IN", "OUT", "CACHED")),
        Column("LAST"),
    ]
    cells = [
        [
            time.strftime(fmt, time.localtime(row["bucket"])),
            row["key"] or "-",
            row["requests"],
            row["errors"],
            row["input_tokens"] or 0,
            row["output_tokens"] or 0,
            row["cached_tokens"] or 0,
            time.strftime("%H:%M:%S", time.localtime(row["last_ts"])) if row.get("last_ts") else "-",
        ]
        for row in rows
    ]
    for line in table(columns, cells):
        click.echo(line)
    totals = {
        k: sum(int(r[k] or 0) for r in rows) for k in ("requests", "errors", "input_tokens", "output_tokens")
    }
    click.echo(
        f"total: {totals['requests']} requests, {totals['errors']} errors, "
        f"{totals['input_tokens']} input and {totals['output_tokens']} output tokens"
    )


@main.group()
def config() -> None:
    """Settings in <AGW_HOME>/config.toml."""


@config.command("show")
def config_show() -> None:
    """Every setting with its effective value (secrets masked); `agw help config` says what each means."""
    settings = load_settings()
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name in SECRET_SETTINGS and value:
            value = "<set>"
        elif name in ("upstream_proxy", "redis_url"):
            value = redact(value)
        elif name == "upstream_proxies":
            value = [redact(v) for v in value]
        click.echo(f"{name} = {orjson.dumps(value, default=str).decode()}")


@config.command("set")
@click.argument("name")
@click.argument("value")
def config_set(name: str, value: str) -> None:
    """Save a setting to config.toml. VALUE is JSON when it parses as JSON, else a string."""
    settings = load_settings()
    try:
        parsed: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = value
    try:
        values = validated(settings, {name: parsed})
    except ValueError as exc:
        fail(str(exc))
        return
    path = settings.home / "config.toml"
    update_config(path, values)
    when = (
        "a running gateway applies it within seconds"
        if name in LIVE_KEYS
        else "restart the gateway to apply it"
    )
    click.echo(f"saved {name} to {path}; {when}")


@config.command("unset")
@click.argument("name")
def config_unset(name: str) -> None:
    """Remove a setting from config.toml (back to its default or environment value)."""
    settings = load_settings()
    path = settings.home / "config.toml"
    if name not in read_config(path):
        fail(f"{name} is not set in {path}")
    update_config(path, {name: None})
    click.echo(f"removed {name} from {path}")


@main.group()
def cooldowns() -> None:
    """Accounts cooling down after rate limits or exhausted quota."""


@cooldowns.command("list")
def cooldowns_list() -> None:
    """Which accounts are cooling down for which model, for how long more, and why."""
    settings = load_settings()
    if not has_data(settings):
        return

    async def run() -> list[tuple[str, str, float, str, str]]:
        async with _store(settings) as store:
            emails = {a.id: a.email for a in await store.list_accounts()}
            return [
                (emails.get(c.account_id, c.account_id), c.model, c.until, c.reason, c.message)
                for c in await store.list_cooldowns()
            ]

    rows = run_async(run())
    if not rows:
        click.echo("no account is cooling down")
        return
    columns = [Column("ACCOUNT"), Column("MODEL"), Column("LEFT", ">"), Column("WHY", wrap=True)]
    cells = [
        [
            email,
            "all models" if model == "*" else model,
            f"{max(0, int(until - time.time()))}s",
            f"{reason}: {message}",
        ]
        for email, model, until, reason, message in rows
    ]
    for line in table(columns, cells):
        click.echo(line)


@cooldowns.command("clear")
@click.argument("id_or_email", required=False)
def cooldowns_clear(id_or_email: str | None) -> None:
    """Forget cooldowns (of one account, or all): the accounts are tried again at once."""
    settings = load_settings()
    if not has_data(settings):
        return

    async def run() -> None:
        async with _store(settings) as store:
            account_id = None
            if id_or_email:
                match = [a for a in await store.list_accounts() if id_or_email in (a.id, a.email)]
                if not match:
                    fail(f"no account {id_or_email!r}")
                account_id = match[0].id
            await store.clear_cooldowns(account_id)

    run_async(run())
    click.echo("cooldowns cleared")


@main.group()
def bindings() -> None:
    """Conversation-to-account bindings (sticky sessions)."""


@bindings.command("clear")
def bindings_clear() -> None:
    """Forget every binding: conversations may move to other accounts."""
    settings = load_settings()
    if not has_data(settings):
        return

    async def run() -> None:
        async with _store(settings) as store:
            await store.clear_bindings()

    run_async(run())
    click.echo("bindings cleared")
