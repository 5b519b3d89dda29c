"""``agw models``: the models clients can ask for, and every name that is mapped to another one."""

from __future__ import annotations

from typing import Any

import click
import orjson

from antigravity_gateway.cli.base import has_data, main, run_async
from antigravity_gateway.cli.table import Column, table
from antigravity_gateway.core.models_map import BUILTIN_ALIASES
from antigravity_gateway.settings import Settings, load_settings
from antigravity_gateway.store import open_store


async def _catalog_models(settings: Settings) -> dict[str, list[str]]:
    """Model id → the emails of the accounts that have it (from the stored catalogs)."""
    async with open_store(settings) as store:
        emails = {a.id: a.email for a in await store.list_accounts()}
        models: dict[str, list[str]] = {}
        for catalog in await store.list_catalogs():
            if catalog.account_id not in emails:
                continue
            for model_id in catalog.data.get("models") or {}:
                models.setdefault(str(model_id), []).append(emails[catalog.account_id])
        return dict(sorted(models.items()))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(as_json: bool) -> None:
    """The models your accounts have, your model_mapping, and the built-in aliases.

    A name is resolved in this order: your model_mapping (exact, then wildcard rules), then the built-in
    aliases (never for a model the accounts have), then Google's own deprecation forwarding. The model
    actually used is in every answer's x-agw-upstream-model header and in `agw logs tail`.
    """
    settings = load_settings()
    available: dict[str, list[str]] = {}
    if settings.db_path.exists() or settings.redis_url:
        available = run_async(_catalog_models(settings))
    if as_json:
        data: dict[str, Any] = {
            "models": available,
            "model_mapping": settings.model_mapping,
            "builtin_aliases": BUILTIN_ALIASES,
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if available:
        click.echo("Models your accounts have (GET /v1beta/models lists them):")
        rows = [[model, ", ".join(emails)] for model, emails in available.items()]
        for line in table([Column("MODEL"), Column("ACCOUNTS", wrap=True)], rows):
            click.echo("  " + line)
    elif has_data(settings):
        click.echo("no model catalog fetched yet: `agw accounts quota` fetches them")
    click.echo("")
    if settings.model_mapping:
        click.echo("Your model_mapping (applied first):")
        for line in table([Column("NAME"), Column("SENT AS")], list(settings.model_mapping.items())):
            click.echo("  " + line)
        click.echo("")
    click.echo("Built-in aliases (* matches anything; not applied to a model your accounts have):")
    for line in table([Column("NAME"), Column("SENT AS")], list(BUILTIN_ALIASES.items())):
        click.echo("  " + line)
