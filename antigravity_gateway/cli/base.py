"""The ``agw`` group and what its commands share: error reporting and an opened account pool."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import click

from antigravity_gateway import __version__
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import GatewayError
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.sqlite import store_for
from antigravity_gateway.upstream.client import UpstreamClient, UpstreamHTTPError

T = TypeVar("T")


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def run_async(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except GatewayError as exc:
        fail(exc.message)
    except UpstreamHTTPError as exc:
        fail(f"Google answered {exc.error.http_status} {exc.error.status}: {exc.error.message}")
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[AccountPool]:
    async with store_for(settings) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        yield pool


@click.group()
@click.version_option(__version__, prog_name="agw")
def main() -> None:
    """Antigravity Gateway: Gemini, OpenAI and Anthropic clients on a pool of Google accounts."""
