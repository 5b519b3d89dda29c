"""``agw secrets``: tokens encrypted at rest (``AGW_SECRET_KEY``), on and off.

The store encrypts its plaintext tokens by itself whenever it opens with a key; ``encrypt`` does only
that, now. ``decrypt`` is the one way back: it rewrites the tokens in plaintext, after which the key
must be removed (a store opened with a key encrypts them again).
"""

from __future__ import annotations

import click

from antigravity_gateway.cli.base import fail, main, run_async
from antigravity_gateway.settings import load_settings
from antigravity_gateway.store.crypto import resolve_secret_key
from antigravity_gateway.store.sqlite import SQLiteStore

_NO_KEY = "AGW_SECRET_KEY is not set (see `agw help security`)"


@main.group()
def secrets() -> None:
    """Account tokens encrypted at rest with AGW_SECRET_KEY."""


@secrets.command("encrypt")
def secrets_encrypt() -> None:
    """Encrypt the stored tokens with AGW_SECRET_KEY now (the gateway also does it when it starts)."""
    settings = load_settings()

    async def run() -> int:
        key = resolve_secret_key(settings)
        if not key:
            fail(_NO_KEY)
        async with SQLiteStore(settings.db_path, secret_key=key) as store:
            return len(await store.list_accounts())

    count = run_async(run())
    click.echo(f"the tokens of {count} account(s) in {settings.db_path} are encrypted")


@secrets.command("decrypt")
def secrets_decrypt() -> None:
    """Store the tokens in plaintext again, to stop using AGW_SECRET_KEY. Stop the gateway first."""
    settings = load_settings()

    async def run() -> int:
        key = resolve_secret_key(settings)
        if not key:
            fail(_NO_KEY + "; it is needed to decrypt the tokens")
        async with SQLiteStore(settings.db_path, secret_key=key) as store:
            return await store.decrypt_tokens()

    count = run_async(run())
    click.echo(
        f"the tokens of {count} account(s) in {settings.db_path} are stored in plaintext; now remove "
        "AGW_SECRET_KEY (the next start with it would encrypt them again)"
    )
