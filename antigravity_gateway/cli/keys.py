"""``agw keys ...``: per-user API keys with model access, limits, expiry and usage.

The commands work on the store directly, so they also work while ``agw serve`` runs: every gateway
process applies a change within a second. A new secret is printed once and never stored.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import orjson

from antigravity_gateway.cli.base import fail, has_data, main, run_async
from antigravity_gateway.cli.table import Column, clean, table
from antigravity_gateway.keys import manage, parse
from antigravity_gateway.keys.record import ApiKey, KeyUsage, utc_day
from antigravity_gateway.settings import load_settings
from antigravity_gateway.store import open_store
from antigravity_gateway.store.base import Store

T = TypeVar("T")

SHOWN_ONCE = (
    "This is the only time the key is shown: copy it now. The gateway keeps only its hash "
    "(`agw keys rotate NAME` makes a new one)."
)


def _with_store(job: Callable[[Store], Awaitable[T]]) -> T:
    settings = load_settings()

    async def run() -> T:
        async with open_store(settings) as store:
            return await job(store)

    return run_async(run())


def _limit_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``keys add`` and ``keys edit`` share (``edit`` changes only those given)."""
    options = [
        click.option("--models", default=None, help="Model globs, comma-separated (gemini-*,claude-sonnet-*); '*' for all. The model asked for and the one it maps to must both match."),
        click.option("--rpm", default=None, help="Requests per minute (a sliding 60 s window); 0 for no limit."),
        click.option("--tokens-per-day", default=None, help="Input plus output tokens per UTC day; 0 for no limit."),
        click.option("--concurrency", default=None, help="Requests in progress at once; 0 for no limit."),
        click.option("--expires", default=None, help="A duration (30d, 12h), a date (2026-12-31: the end of that day, UTC), a date and time, or 'never'."),
        click.option("--ips", default=None, help="Client addresses allowed, CIDR list (10.0.0.0/8,192.168.1.7); 'any' for all."),
        click.option("--note", default=None, help="A note for people (who it is for)."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


def _options(**values: Any) -> dict[str, Any]:
    return {
        "models": values["models"],
        "rpm": values["rpm"],
        "tokens_per_day": values["tokens_per_day"],
        "concurrency": values["concurrency"],
        "expires": values["expires"],
        "ips": values["ips"],
        "note": values["note"],
    }


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else "-"


def _limit(value: int) -> str:
    return str(value) if value else "-"


def _print_secret(key: ApiKey, secret: str, as_json: bool, what: str) -> None:
    if as_json:
        click.echo(orjson.dumps({"key": key.public_dict(), "secret": secret}).decode())
        return
    click.echo(clean(f"{what} the API key {key.name} ({key.prefix}…):"))
    click.echo(f"  {secret}")
    click.echo(SHOWN_ONCE)


@main.group()
def keys() -> None:
    """Per-user API keys: model access, limits, expiry and usage (`agw help keys`)."""


@keys.command("add")
@click.argument("name")
@_limit_options
@click.option("--json", "as_json", is_flag=True, help="Print the key and its secret as JSON.")
def keys_add(name: str, as_json: bool, **values: Any) -> None:
    """Make a key NAME and print its secret, once."""
    key, secret = _with_store(lambda store: manage.add(store, name, _options(**values)))
    _print_secret(key, secret, as_json, "added")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (never a secret or a hash).")
def keys_list(as_json: bool) -> None:
    """Every key: its state, models, limits, expiry and last use."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json):
        return
    found = _with_store(lambda store: store.list_keys())
    if as_json:
        click.echo(orjson.dumps([k.public_dict() for k in found], option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        click.echo("no API keys yet: add one with `agw keys add NAME`")
        return
    columns = [
        Column("NAME"),
        Column("PREFIX"),
        Column("STATE"),
        Column("MODELS", wrap=True),
        Column("RPM", ">"),
        Column("TOKENS/DAY", ">"),
        Column("CONC", ">"),
        Column("EXPIRES"),
        Column("LAST USED"),
        Column("NOTE", wrap=True),
    ]
    rows = [
        [
            k.name, k.prefix + "…", k.state(), ", ".join(k.models) or "all", _limit(k.rpm),
            _limit(k.tokens_per_day), _limit(k.concurrency), _when(k.expires_at), _when(k.last_used_at),
            k.note or "-",
        ]
        for k in found
    ]  # fmt: skip
    for line in table(columns, rows):
        click.echo(line)


@keys.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def keys_show(name: str, as_json: bool) -> None:
    """One key, with today's usage (UTC) and its requests in progress."""
    if not has_data(load_settings()):
        fail(f"no API key named {name!r}")

    async def job(store: Store) -> tuple[ApiKey | None, list[KeyUsage], int]:
        key = await store.get_key(name)
        today = await store.key_usage(name, since_day=utc_day(time.time()))
        return key, today, (await store.keys_in_flight()).get(name, 0)

    key, today, in_flight = _with_store(job)
    if key is None:
        fail(f"no API key named {name!r}")
        return
    usage = today[0] if today else KeyUsage(name, utc_day(time.time()))
    if as_json:
        view = {**key.public_dict(), "today": usage.public_dict(), "in_flight": in_flight}
        click.echo(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        return
    lines = [
        ("name", key.name),
        ("prefix", key.prefix + "…"),
        ("state", key.state() + (f" (revoked {_when(key.revoked_at)})" if key.revoked_at else "")),
        ("models", ", ".join(key.models) or "all"),
        ("rpm", _limit(key.rpm)),
        ("tokens per day", _limit(key.tokens_per_day)),
        ("concurrency", _limit(key.concurrency)),
        ("expires", _when(key.expires_at) if key.expires_at else "never"),
        ("ips", ", ".join(key.ips) or "any"),
        ("note", key.note or "-"),
        ("created", _when(key.created_at)),
        ("last used", _when(key.last_used_at)),
        ("in flight", str(in_flight)),
        (
            f"today ({usage.day} UTC)",
            f"{usage.requests} requests, {usage.errors} errors, {usage.refused} refused, "
            f"{usage.input_tokens} input and {usage.output_tokens} output tokens",
        ),
    ]
    for label, value in lines:
        click.echo(clean(f"{label + ':':<20} {value}"))


@keys.command("edit")
@click.argument("name")
@_limit_options
def keys_edit(name: str, **values: Any) -> None:
    """Change the options given (the others stay); the running gateway applies them within a second."""
    options = _options(**values)
    if all(v is None for v in options.values()):
        fail("nothing to change: give at least one option (see `agw keys edit --help`)")
    key = _with_store(lambda store: manage.edit(store, name, options))
    click.echo(clean(f"updated the API key {key.name}"))


@keys.command("rotate")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(name: str, as_json: bool) -> None:
    """A new secret for NAME (limits and usage stay); the old one stops working."""
    key, secret = _with_store(lambda store: manage.rotate(store, name))
    _print_secret(key, secret, as_json, "rotated")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke NAME for good: its requests are refused (401 "revoked"); it stays listed with its usage."""
    key = _with_store(lambda store: manage.revoke(store, name))
    click.echo(clean(f"revoked the API key {key.name}"))


@keys.command("remove")
@click.argument("name")
def keys_remove(name: str) -> None:
    """Forget NAME with its counters and daily totals (the request log keeps its name)."""
    _with_store(lambda store: manage.remove(store, name))
    click.echo(clean(f"removed the API key {name}"))


@keys.command("usage")
@click.argument("name", required=False)
@click.option(
    "--since", default="7d", show_default=True, help="A duration back (7d, 24h) or a date (2026-01-31)."
)
@click.option("--json", "as_json", is_flag=True)
def keys_usage(name: str | None, since: str, as_json: bool) -> None:
    """Daily totals per key (UTC days): requests, errors, refused, tokens, last use."""
    settings = load_settings()
    if not has_data(settings, as_json=as_json):
        return
    try:
        first = parse.since(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
        return
    rows = _with_store(lambda store: store.key_usage(name, since_day=utc_day(first)))
    if as_json:
        click.echo(orjson.dumps([r.public_dict() for r in rows], option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo(f"no usage since {utc_day(first)}" + (f" for {clean(name)}" if name else ""))
        return
    columns = [
        Column("DAY (UTC)"),
        Column("KEY"),
        *(Column(h, ">") for h in ("REQ", "ERR", "REFUSED", "IN", "OUT")),
        Column("LAST USED"),
    ]
    cells = [
        [
            r.day,
            r.name,
            r.requests,
            r.errors,
            r.refused,
            r.input_tokens,
            r.output_tokens,
            _when(r.last_used_at),
        ]
        for r in rows
    ]
    for line in table(columns, cells):
        click.echo(line)
    click.echo(
        f"total: {sum(r.requests for r in rows)} requests, {sum(r.errors for r in rows)} errors, "
        f"{sum(r.refused for r in rows)} refused, {sum(r.tokens for r in rows)} tokens"
    )
