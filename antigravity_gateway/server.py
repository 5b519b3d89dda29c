"""Running the gateway: uvicorn with uvloop and httptools, our own logging, no access log."""

from __future__ import annotations

import asyncio
import gc
import logging
import re

import uvicorn

from antigravity_gateway.app import build_app
from antigravity_gateway.errors import GatewayError
from antigravity_gateway.settings import Settings
from antigravity_gateway.store import open_store
from antigravity_gateway.web.http_protocol import protocol_class

_SECRET_PATTERNS = [
    (re.compile(r"ya29\.[\w\-.]+"), "ya29.<redacted>"),
    (re.compile(r"1//[\w\-.]+"), "1//<redacted>"),
    (re.compile(r"(?i)(bearer\s+)[\w\-.~+/]+=*"), r"\1<redacted>"),
    (re.compile(r"(?i)([?&]key=)[^&\s]+"), r"\1<redacted>"),
    (re.compile(r"(?i)\b((?:https?|socks5h?)://[^:/@\s]*:)[^\s/]*@"), r"\1***@"),  # proxy passwords
]


class RedactingFilter(logging.Filter):
    """Defence in depth: the code never logs secrets, and this scrubs anything token-shaped anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern, replacement in _SECRET_PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class UvicornNameFilter(logging.Filter):
    """uvicorn logs its start-up and shutdown lines as ``uvicorn.error``; they are not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error":
            record.name = "uvicorn"
        return True


def configure_logging(level: str, *, worker: int | None = None) -> None:
    """Log lines to stderr; a worker of several (``agw serve --workers N``) marks its lines ``[wN]``."""
    handler = logging.StreamHandler()
    tag = "" if worker is None else f"[w{worker}] "
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s {tag}%(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(UvicornNameFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def uvicorn_config(settings: Settings, *, worker: int = 0, **overrides: object) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(settings, worker=worker),
        host=settings.bind_host,
        port=settings.port,
        loop="uvloop",
        http=protocol_class(settings),  # httptools, with bounded heads and read timeouts
        # uvicorn refuses a request when the open connections (its own included) reach the limit
        limit_concurrency=settings.max_connections + 1,
        access_log=False,
        log_config=None,
        server_header=False,
        # Forwarded headers are read only where they matter (the OAuth callback address in the admin
        # API); uvicorn's middleware for them costs about 13 µs on every request.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        **overrides,  # type: ignore[arg-type]
    )


async def _check_store(settings: Settings) -> None:
    async with open_store(settings):
        pass


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    try:
        # The store opens in the app's lifespan, where uvicorn would print a failure with a traceback:
        # a store that cannot open (encrypted tokens and no or a wrong AGW_SECRET_KEY) is one line here.
        asyncio.run(_check_store(settings))
    except GatewayError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    if settings.workers > 1:
        from antigravity_gateway.workers import supervise

        supervise(settings)
        return
    config = uvicorn_config(settings)
    tune_gc()
    uvicorn.Server(config).run()


def tune_gc() -> None:
    """Long-lived objects (modules, the app) leave the collector's view, and young collections run less
    often: a request allocates many short-lived dicts, and with the default threshold of 700 the
    collector ran every few requests. Called once the app is built, in each serving process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
