"""The ``agw`` group and what its commands share: error reporting and an opened account pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import NoReturn, TypeVar

import click

from antigravity_gateway import __version__
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.cli.table import clean
from antigravity_gateway.errors import GatewayError
from antigravity_gateway.settings import Settings
from antigravity_gateway.store import open_store
from antigravity_gateway.upstream.client import UpstreamClient, UpstreamHTTPError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    click.echo(f"error: {clean(message)}", err=True)
    sys.exit(1)


def has_data(settings: Settings, *, as_json: bool = False, empty_json: str = "[]") -> bool:
    """For read-only commands: whether the store exists. When it does not, say so (JSON output gets an
    empty value, the sentence goes to stderr) and create nothing."""
    if settings.db_path.exists() or settings.redis_url:
        return True
    if as_json:
        click.echo(empty_json)
    click.echo(f"no data yet at {settings.db_path}", err=as_json)
    return False


def run_async(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except GatewayError as exc:
        fail(exc.message)
    except UpstreamHTTPError as exc:
        fail(f"Google answered {exc.error.http_status} {exc.error.status}: {exc.error.message}")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """The library's warnings (one per endpoint tried) stay out of a command that reports failures itself."""
    package = logging.getLogger("antigravity_gateway")
    level = package.level
    package.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        package.setLevel(level)


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[AccountPool]:
    async with open_store(settings) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        yield pool


@click.group()
@click.version_option(__version__, prog_name="agw")
def main() -> None:
    """Antigravity Gateway: Gemini, OpenAI and Anthropic clients on a pool of Google accounts."""
