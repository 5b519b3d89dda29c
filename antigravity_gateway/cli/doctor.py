"""``agw doctor``: every check of :mod:`antigravity_gateway.diagnosis`, one line each, with the fix.

Creates nothing: on a home without a database the account checks say there are none.
"""

from __future__ import annotations

import sys

import click
import orjson

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.cli.base import main, quiet_library_logs
from antigravity_gateway.cli.table import clean
from antigravity_gateway.diagnosis import (
    Check,
    config_check,
    diagnose,
    failed,
    home_check,
    python_check,
    report,
)
from antigravity_gateway.errors import GatewayError, StoreUnavailable
from antigravity_gateway.settings import Settings, default_home, load_settings
from antigravity_gateway.store import open_store
from antigravity_gateway.upstream.client import UpstreamClient

MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


async def _run(settings: Settings) -> list[Check]:
    async with UpstreamClient(settings) as http:
        if not settings.db_path.exists() and not settings.redis_url:
            return await diagnose(settings, http, None, None)
        try:
            async with open_store(settings) as store:
                pool = AccountPool(settings, store, http)
                await pool.load()
                catalog = ModelCatalog(pool)
                await catalog.load()
                return await diagnose(settings, http, pool, catalog)
        except StoreUnavailable as exc:  # Redis cannot be reached
            problem = Check(
                "shared store", "fail", exc.message, "start Redis, or correct redis_url (AGW_REDIS_URL)"
            )
            return await diagnose(settings, http, None, None, store_problem=problem)
        except GatewayError as exc:  # the store cannot open (encrypted tokens, no or a wrong key)
            problem = Check(
                "database",
                "fail",
                exc.message,
                "set AGW_SECRET_KEY to the key the tokens were encrypted with",
            )
            return await diagnose(settings, http, None, None, store_problem=problem)


def _show(checks: list[Check]) -> None:
    for check in checks:
        click.echo(f"{MARKS[check.status]} {clean(check.name)}: {clean(check.detail)}")
        if check.fix and check.status != "ok":
            click.echo(f"    fix: {clean(check.fix)}")
    counts = {status: sum(1 for c in checks if c.status == status) for status in MARKS}
    click.echo(
        f"{len(checks)} checks: {counts['ok']} ok, {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}, "
        f"{counts['fail']} failed"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json: bool) -> None:
    """Check everything the gateway needs, each line ✓ or ✗ with the fix; exit 1 when something is wrong."""
    import asyncio

    try:
        settings = load_settings()
    except (ValueError, OSError) as exc:  # a config.toml that does not parse or holds a wrong value
        home = default_home()
        checks = [python_check(), home_check(home), config_check(home, None, exc)]
    else:
        with quiet_library_logs():
            checks = asyncio.run(_run(settings))
    if as_json:
        click.echo(orjson.dumps(report(checks), option=orjson.OPT_INDENT_2).decode())
    else:
        _show(checks)
    if failed(checks):
        sys.exit(1)
