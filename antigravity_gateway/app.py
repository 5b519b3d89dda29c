"""``build_app(settings)``: the Starlette app, its routes, middleware and lifespan.

Resources (the store, the upstream HTTP session, background refreshers) are opened in the lifespan
and hang off ``app.state``; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from antigravity_gateway import __version__
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.scheduler import Scheduler
from antigravity_gateway.config_file import apply_shared_settings, reload_live, share_settings
from antigravity_gateway.core.pipeline import Pipeline
from antigravity_gateway.core.signatures import ToolSignatures
from antigravity_gateway.errors import GatewayError, NotFound, StoreUnavailable
from antigravity_gateway.keys.enforce import EXTEND_EVERY, Enforcer
from antigravity_gateway.keys.table import KeyTable
from antigravity_gateway.metrics import Metrics
from antigravity_gateway.settings import Settings
from antigravity_gateway.store import open_store
from antigravity_gateway.store.base import public_health
from antigravity_gateway.store.request_log import RequestLogger, current_record
from antigravity_gateway.upstream.client import UpstreamClient
from antigravity_gateway.upstream.proxies import health_target
from antigravity_gateway.web import anthropic_routes, dashboard, gemini_routes, models_routes, openai_routes
from antigravity_gateway.web.admin_api import AdminApi
from antigravity_gateway.web.auth import AuthMiddleware
from antigravity_gateway.web.body import LargeBodies
from antigravity_gateway.web.dialect import dialect_for, error_response
from antigravity_gateway.web.fast_routes import FastRoutes
from antigravity_gateway.web.metrics import routes as metrics_routes
from antigravity_gateway.web.request_log import RequestLogMiddleware
from antigravity_gateway.web.security import SecurityMiddleware
from antigravity_gateway.web.throttle import Throttle

logger = logging.getLogger(__name__)

#: How often a process looks for what other processes changed in the store (and config.toml).
SYNC_INTERVAL = 0.5
CATALOG_WAIT = 15.0


async def healthz(request: Request) -> Response:
    """Liveness: 200 while the process serves HTTP. ``ready`` tells whether it can serve a request."""
    return Response(orjson.dumps(_health(request)), media_type="application/json")


async def readyz(request: Request) -> Response:
    """Readiness: 200 when at least one account is usable, else 503 (for load balancers and probes)."""
    body = _health(request)
    return Response(
        orjson.dumps(body), status_code=200 if body["ready"] else 503, media_type="application/json"
    )


def _health(request: Request) -> dict[str, object]:
    pool: AccountPool = request.app.state.pool
    accounts = list(pool.accounts.values())
    usable = sum(1 for a in accounts if a.usable)
    body: dict[str, object] = {
        "status": "ok",
        "ready": usable > 0,
        "version": __version__,
        "host": request.app.state.hostname,
        "accounts": {"total": len(accounts), "usable": usable},
        "store": public_health(pool.store.health()),
        "worker": request.app.state.worker,
    }
    if not usable:
        body["reason"] = (
            "no usable account: add one with `agw accounts login` or `agw accounts add`, or on the dashboard"
        )
    return body


async def root(request: Request) -> Response:
    """``GET /``: a browser goes to the dashboard; an API client gets the usual 404 in its protocol."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui", status_code=307)
    raise HTTPException(404)


async def claude_hello(request: Request) -> Response:
    """Claude Code's connectivity probe (``HEAD /api/hello``)."""
    return Response(b"", status_code=200)


def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if (record := current_record.get()) is not None and not record.error:
        record.error = exc.message[:2000]
    return error_response(exc, dialect_for(request.url.path, request.headers))


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: GatewayError = NotFound(f"no route for {request.method} {request.url.path}")
    else:
        error = GatewayError(str(exc.detail), status=exc.status_code)
    return error_response(error, dialect_for(request.url.path, request.headers))


def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    error = GatewayError(f"internal error in the gateway ({exc.__class__.__name__}); see the gateway log")
    return error_response(error, dialect_for(request.url.path, request.headers))


def build_routes(admin: AdminApi) -> list[BaseRoute]:
    """The client APIs first (routes are matched in order and they carry the traffic), then health and
    metrics, the admin API and the dashboard under their own mounts."""
    routes: list[BaseRoute] = []
    routes += gemini_routes.routes()
    routes += anthropic_routes.routes()
    routes += openai_routes.routes()
    routes += models_routes.routes()
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/health", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *metrics_routes(),
        Route("/", root, methods=["GET"]),
        Mount("/api", routes=[Route("/hello", claude_hello, methods=["GET", "HEAD"]), *admin.routes()]),
    ]
    routes += dashboard.routes()
    return routes


def build_app(settings: Settings, *, worker: int = 0) -> Starlette:
    """The app of one process; ``worker`` is its index under ``agw serve --workers N`` (0 when alone).
    The jobs a host needs once (the model catalogs' refresh, the request log's pruning) run in worker 0
    only: the others read what it stores. Each worker checks the proxies' health itself, as each keeps
    its own view of them."""
    primary = worker == 0

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            open_store(settings) as store,
            UpstreamClient(settings) as http,
            RequestLogger(
                store,
                keep_days=settings.request_log_days,
                max_rows=settings.request_log_max_rows,
                prune=primary,
            ) as log,
        ):
            app.state.worker = {"pid": os.getpid(), "index": worker}
            app.state.request_logger = log
            pool = AccountPool(settings, store, http)
            await pool.load()
            catalog = ModelCatalog(pool)
            await catalog.load()
            scheduler = Scheduler(pool, catalog)
            await scheduler.load()
            await keys.load(store)
            enforcer.open(store)
            app.state.metrics = Metrics(pool, scheduler, catalog)
            pool.on_refresh = app.state.metrics.token_refreshed
            log.observe = app.state.metrics.observe
            app.state.settings = settings
            app.state.pool = pool
            app.state.catalog = catalog
            app.state.scheduler = scheduler
            app.state.pipeline = Pipeline(settings, http, pool, catalog, scheduler)
            app.state.tool_signatures = ToolSignatures()
            app.state.large_bodies = LargeBodies(settings)
            app.state.loop = asyncio.get_running_loop()  # for callers on other threads
            app.state.ensure_catalog = _catalog_waiter(pool, catalog)
            tasks = [
                asyncio.create_task(
                    _every(SYNC_INTERVAL, _syncer(settings, pool, catalog, scheduler, keys)), name="agw-sync"
                ),
                # every worker extends its own requests in flight
                asyncio.create_task(_every(EXTEND_EVERY, enforcer.extend), name="agw-key-requests"),
            ]
            if primary:
                tasks.append(
                    asyncio.create_task(
                        _every(
                            settings.models_refresh_interval,
                            lambda: catalog.refresh_all(max_age=settings.models_refresh_interval),
                            first=0.0,
                        ),
                        name="agw-model-catalog",
                    )
                )
            if http.proxies.pool:
                target = health_target(settings.upstream_endpoints)
                tasks.append(
                    asyncio.create_task(
                        _every(
                            settings.proxy_check_interval,
                            functools.partial(_check_proxies, http, target),
                            first=0.0,
                        ),
                        name="agw-proxy-health",
                    )
                )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await scheduler.drain()
                app.state.metrics.fold()  # the last requests' counts, for the other workers' scrapes

    admin = AdminApi()
    key_throttle = Throttle()
    keys = KeyTable()  # the user keys, loaded in the lifespan
    enforcer = Enforcer()
    routes = build_routes(admin)
    app = Starlette(
        routes=routes,
        middleware=[
            # The browser policy first: a request it refuses costs nothing further and is not logged.
            Middleware(SecurityMiddleware, settings=settings, keys=keys),
            Middleware(RequestLogMiddleware),
            Middleware(
                AuthMiddleware, settings=settings, throttle=key_throttle, keys=keys, enforcer=enforcer
            ),
            # The busiest client routes, past Starlette's router (errors rendered by the same handlers).
            Middleware(
                FastRoutes, routes=routes, handlers={GatewayError: _gateway_error, HTTPException: _http_error}
            ),
        ],
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.admin = admin  # its login throttle and sessions
    app.state.hostname = socket.gethostname()  # the request log and stats shown are this host's
    app.state.key_throttle = key_throttle
    app.state.keys = keys
    app.state.enforcer = enforcer
    return app


def _syncer(
    settings: Settings, pool: AccountPool, catalog: ModelCatalog, scheduler: Scheduler, keys: KeyTable
) -> Callable[[], Awaitable[None]]:
    """Pick up what other processes changed: the store (accounts, model catalogs and quotas,
    cooldowns, bindings, requests in flight, user keys) and the live settings in config.toml."""
    path = settings.home / "config.toml"
    seen = [path.stat().st_mtime_ns if path.exists() else 0]

    async def sync() -> None:
        try:
            areas = await pool.store.changes()
            if "accounts" in areas:
                await pool.sync()
            if "catalogs" in areas:
                await catalog.load()
            if areas & {"cooldowns", "bindings", "bindings_reset"}:
                await scheduler.load(areas)
            if "settings" in areas:
                await apply_shared_settings(settings, pool.store)
            if "keys" in areas:
                await keys.load(pool.store)
            await scheduler.share_in_flight()
        except StoreUnavailable:
            pass  # logged once by the store; its next answer reports every area again
        mtime = path.stat().st_mtime_ns if path.exists() else 0
        if mtime != seen[0]:
            seen[0] = mtime
            try:
                changed = reload_live(settings, path)
            except (ValueError, OSError) as exc:
                logger.warning("config.toml not applied: %s", exc)
            else:
                if changed:
                    logger.info("config.toml changed: applied %s", ", ".join(changed))
                    try:
                        await share_settings(settings, pool.store, changed)
                    except StoreUnavailable as exc:
                        logger.warning("config.toml: %s not shared with the other hosts: %s", changed, exc)

    return sync


async def _check_proxies(http: UpstreamClient, target: str) -> None:
    """One health check of the proxy pool; a change of state is logged (the URLs redacted)."""
    before = {url: http.proxies.state(url).healthy for url in http.proxies.pool}
    for url, health in zip(http.proxies.pool, await http.proxies.check_all(target), strict=True):
        if health.ok != before[url]:
            if health.ok:
                logger.info("upstream proxy %s passes its health check again", health.proxy)
            else:
                logger.warning("upstream proxy %s fails its health check: %s", health.proxy, health.error)


def _catalog_waiter(pool: AccountPool, catalog: ModelCatalog) -> Callable[[], Awaitable[None]]:
    """Before answering a model list with nothing in it, fetch the accounts' models once (bounded)."""

    async def ensure() -> None:
        if catalog.models or not any(a.usable for a in pool.accounts.values()):
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(catalog.refresh_all(max_age=60.0), CATALOG_WAIT)

    return ensure


async def _every(interval: float, job: Callable[[], Awaitable[None]], *, first: float | None = None) -> None:
    await asyncio.sleep(interval if first is None else first)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job failed; it will run again in %.0fs", interval)
        await asyncio.sleep(interval)
