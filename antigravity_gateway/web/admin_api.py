"""The admin JSON API under ``/api/`` that the dashboard (and scripts) use. Contract: docs/admin-api.md.

Protected by the admin password (``admin_password``, never the client key): a server-side session
(an HttpOnly, SameSite=Strict cookie after ``POST /api/login``), or ``Authorization: Bearer <password>``.
Without a password the API is open only while the gateway is bound to a loopback address; an exposed
gateway keeps it closed until one is set. Failed logins back off per address (:mod:`.throttle`). The
browser policy (Host, Origin, JSON writes) is applied before any of this by :mod:`.security`.
"""

from __future__ import annotations

import base64
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import quote

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from antigravity_gateway import __version__
from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.imports import ReadResult, read_text, read_upload
from antigravity_gateway.accounts.login import LoginFlows, parse_response
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.scheduler import Scheduler
from antigravity_gateway.accounts.transfer import dry_run, export_accounts, import_accounts, plan_import
from antigravity_gateway.config_file import apply_live, share_settings, update_config, validated
from antigravity_gateway.core.limits import INT64_MAX, int_in_range
from antigravity_gateway.core.pipeline import Pipeline
from antigravity_gateway.diagnosis import diagnose, report
from antigravity_gateway.errors import AccountError, GatewayError, InvalidRequest, NotFound, StoreUnavailable
from antigravity_gateway.keys import manage, parse
from antigravity_gateway.keys.record import ApiKey, KeyUsage, utc_day
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account, RequestQuery, Store
from antigravity_gateway.upstream.client import UpstreamHTTPError
from antigravity_gateway.upstream.proxies import check_url, health_target, redact
from antigravity_gateway.web.body import read_admin_json
from antigravity_gateway.web.peer import client_ip, from_trusted_proxy, request_scheme
from antigravity_gateway.web.sessions import SESSION_SECONDS, Sessions
from antigravity_gateway.web.throttle import Throttle

COOKIE = "agw_session"
MAX_PRIORITY = 1_000_000
MAX_LOG_PAGE = 1000
SETTINGS_FIELDS = (
    "host",
    "port",
    "allow_lan",
    "auth_mode",
    "api_key",
    "model_mapping",
    "scheduling_mode",
    "fixed_account",
    "cache_first_max_wait",
    "quota_protection",
    "debug_capture",
)
WRITABLE_SETTINGS = frozenset(SETTINGS_FIELDS) | {"admin_password"}

Handler = Callable[[Request], Awaitable[Response]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": {"message": message}}, status)


_ACTIONS = ("added", "updated", "skipped", "failed")


class AdminApi:
    """Routes bound to the app's state (looked up per request: the state exists after startup)."""

    def __init__(self, throttle: Throttle | None = None, sessions: Sessions | None = None) -> None:
        self.throttle = throttle or Throttle()
        self.sessions = sessions or Sessions()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _state(request: Request) -> Any:
        return request.app.state

    @staticmethod
    def _password(settings: Settings) -> str:
        return settings.admin_password

    async def _authorized(self, request: Request, settings: Settings) -> Response | None:
        password = self._password(settings)
        if not password:
            if settings.exposed:
                return _error(
                    "the dashboard and admin API stay closed while the gateway is reachable from the network "
                    "and no admin password is set: set AGW_ADMIN_PASSWORD (or `agw config set admin_password "
                    "...`)",
                    403,
                )
            return None
        if await self.sessions.valid(self._store(request), request.cookies.get(COOKIE, ""), password):
            return None
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            address = client_ip(request.scope, settings)
            if wait := self.throttle.wait(address):
                return _too_many(wait)
            if hmac.compare_digest(authorization[7:].strip().encode(), password.encode()):
                self.throttle.success(address)
                return None
            if wait := self.throttle.failure(address):
                return _too_many(wait)
            return _error("wrong admin password", 401)
        return _error("log in to the dashboard first (admin password)", 401)

    @staticmethod
    def _store(request: Request) -> Store:
        store: Store = request.app.state.pool.store
        return store

    async def _open_session(self, request: Request, response: Response, password: str) -> None:
        settings: Settings = self._state(request).settings
        response.set_cookie(
            COOKIE,
            await self.sessions.open(self._store(request), password),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request_scheme(request.scope, settings) == "https",
            path="/",
        )

    def guarded(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            denied = await self._authorized(request, self._state(request).settings)
            if denied is not None:
                return denied
            try:
                return await handler(request)
            except AccountError as exc:
                # e.g. a refused refresh token: the request's fault, not the session's (no 401)
                return _error(exc.message, 400)
            except GatewayError as exc:
                return _error(exc.message, exc.status if exc.status < 500 else 502)
            except UpstreamHTTPError as exc:
                return _error(f"Google answered {exc.error.http_status}: {exc.error.message}", 502)

        return run

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object of the body (``{}`` when empty), size-limited while it is read."""
        return await read_admin_json(request)

    def _account_view(self, request: Request, account: Account) -> dict[str, Any]:
        state = self._state(request)
        scheduler: Scheduler = state.scheduler
        catalog: ModelCatalog = state.catalog
        now = time.time()
        view = account.public_dict()
        view["client"] = state.pool.oauth.profiles.name_of(account.oauth_client_id)
        # every process's (workers, other hosts), as last published
        view["in_flight"] = scheduler.in_flight.get(account.id, 0) + scheduler.others_in_flight.get(
            account.id, 0
        )
        view["cooldowns"] = [
            {"model": c.model, "until": c.until, "reason": c.reason, "message": c.message}
            for (account_id, _), c in sorted(scheduler.cooldowns.items())
            if account_id == account.id and c.until > now
        ]
        view["quota"] = catalog.quota_view(account.id)
        view["proxy"] = redact(state.pool.proxy_of(account))  # the one its calls use now
        return view

    def _find(self, request: Request) -> Account:
        pool: AccountPool = self._state(request).pool
        return pool.find(request.path_params["account_id"])

    # -- session ----------------------------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        settings: Settings = self._state(request).settings
        password = self._password(settings)
        return _json(
            {
                "authenticated": await self.sessions.valid(
                    self._store(request), request.cookies.get(COOKIE, ""), password
                )
                if password
                else not settings.exposed,
                "password_required": bool(password),
                "lan": settings.exposed,
            }
        )

    async def login(self, request: Request) -> Response:
        settings: Settings = self._state(request).settings
        body = await self._body(request)
        password = self._password(settings)
        if not password:
            return await self._authorized(request, settings) or _json({"ok": True})
        address = client_ip(request.scope, settings)
        if wait := self.throttle.wait(address):
            return _too_many(wait)
        given = body.get("password", "")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), password.encode()):
            if wait := self.throttle.failure(address):
                return _too_many(wait)
            return _error("wrong password", 401)
        self.throttle.success(address)
        response = _json({"ok": True})
        await self._open_session(request, response, password)
        return response

    async def logout(self, request: Request) -> Response:
        await self.sessions.close(self._store(request), request.cookies.get(COOKIE, ""))
        response = _json({"ok": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- overview, accounts -----------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        state = self._state(request)
        accounts = list(state.pool.accounts.values())
        by_status: dict[str, int] = {}
        for account in accounts:
            by_status[account.status] = by_status.get(account.status, 0) + 1
        since = time.time() - 86400
        await state.request_logger.flush()
        series = await state.pool.store.request_stats(since=since, bucket="hour", group="none")
        totals = {
            key: sum(int(row[key] or 0) for row in series)
            for key in ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens")
        }
        return _json(
            {
                "version": __version__,
                # with Redis the pool is shared but the request log and these stats are this host's
                "host": request.app.state.hostname,
                "store": state.pool.store.health(),
                "accounts": {
                    "total": len(accounts),
                    "usable": sum(1 for a in accounts if a.usable),
                    "by_status": by_status,
                },
                "last_24h": totals,
                "series": [
                    {"bucket": r["bucket"], "requests": r["requests"], "errors": r["errors"]} for r in series
                ],
                "scheduling_mode": state.settings.scheduling_mode,
            }
        )

    async def list_accounts(self, request: Request) -> Response:
        pool: AccountPool = self._state(request).pool
        return _json([self._account_view(request, a) for a in pool.accounts.values()])

    async def add_account(self, request: Request) -> Response:
        state = self._state(request)
        body = await self._body(request)
        token = str(body.get("refresh_token") or "").strip()
        if not token:
            raise InvalidRequest("refresh_token is required")
        proxy_url = _proxy_url(body.get("proxy_url"), "")
        account = await state.pool.add(
            token,
            label=str(body.get("label") or ""),
            client=str(body.get("client") or ""),
            proxy_url=proxy_url,
        )
        await _refresh_quietly(state.catalog, account)
        return _json(self._account_view(request, account), 201)

    async def import_accounts(self, request: Request) -> Response:
        """``{"text"}`` (pasted: any format, told by content) and/or ``{"files": [{"name", "data"}]}``
        (``data`` base64: JSON, text or a .zip), optional ``"dry_run"``. Every file is read before
        anything changes; one that cannot be read is a 400 naming it."""
        state = self._state(request)
        body = await self._body(request)
        read = ReadResult()
        text = str(body.get("text") or "")
        if text.strip():
            read.extend(read_text(str(body.get("name") or "pasted text")[:200], text))
        files = body.get("files") or []
        if not isinstance(files, list):
            raise InvalidRequest("files must be a list of {name, data}", param="files")
        for index, entry in enumerate(files, start=1):
            name = (
                str(entry.get("name") or f"file {index}")[:200]
                if isinstance(entry, dict)
                else f"file {index}"
            )
            try:
                data = base64.b64decode(str(entry.get("data") or ""), validate=True)
            except (ValueError, AttributeError):
                raise InvalidRequest(
                    f"{name}: data must be the file's content in base64", param="files"
                ) from None
            read.extend(read_upload(name, data))
        plan = plan_import(read)
        if not plan.total:
            raise InvalidRequest("nothing to import: paste refresh tokens (one per line) or a JSON array")
        if body.get("dry_run") is True:
            results = [r.as_dict() for r in dry_run(plan, list(state.pool.accounts.values()))]
            return _json({"dry_run": True, "results": results})
        imported = [r async for r in import_accounts(state.pool, plan, settings=state.pool.settings)]
        await state.catalog.load()
        summary = {action: sum(1 for r in imported if r.action == action) for action in _ACTIONS}
        return _json({"results": [r.as_dict() for r in imported], "summary": summary})

    async def export(self, request: Request) -> Response:
        return Response(export_accounts(self._state(request).pool), media_type="application/json")

    async def patch_account(self, request: Request) -> Response:
        account = self._find(request)
        body = await self._body(request)
        # Everything is checked before anything changes: a refused PATCH leaves the account as it was.
        label = str(body["label"] or "")[:100] if "label" in body else account.label
        priority = account.priority
        if "priority" in body:
            priority = int_in_range(body["priority"], "priority", -MAX_PRIORITY, MAX_PRIORITY)
        proxy_url = account.proxy_url
        if "proxy_url" in body:
            proxy_url = _proxy_url(body["proxy_url"], account.proxy_url)
        await self._state(request).pool.update(account, label=label, priority=priority, proxy_url=proxy_url)
        return _json(self._account_view(request, account))

    async def enable(self, request: Request) -> Response:
        account = self._find(request)
        await self._state(request).pool.set_status(account, "enabled")
        return _json(self._account_view(request, account))

    async def disable(self, request: Request) -> Response:
        account = self._find(request)
        await self._state(request).pool.set_status(account, "disabled", "disabled by the user")
        return _json(self._account_view(request, account))

    async def delete_account(self, request: Request) -> Response:
        state = self._state(request)
        account = self._find(request)
        await state.pool.remove(account)
        state.scheduler.clear_cooldowns(account.id)
        state.scheduler.clear_bindings(account.id)
        return _json({"ok": True})

    async def refresh_quota(self, request: Request) -> Response:
        account = self._find(request)
        await self._state(request).catalog.refresh(account)
        return _json(self._account_view(request, account))

    async def refresh_all_quota(self, request: Request) -> Response:
        state = self._state(request)
        await state.catalog.refresh_all()
        return _json([self._account_view(request, a) for a in state.pool.accounts.values()])

    # -- upstream proxies -------------------------------------------------------------------------

    def _proxies_view(self, request: Request) -> dict[str, Any]:
        """Each proxy in use (the pool's, the global one, the accounts' own) with its state, counters
        and accounts (emails). Passwords redacted."""
        pool: AccountPool = self._state(request).pool
        proxies = pool.http.proxies
        users: dict[str, list[str]] = {}
        for account in pool.accounts.values():
            users.setdefault(pool.proxy_of(account), []).append(account.email)
        direct = sorted(users.pop("", []))
        in_pool = proxies.pool
        views = []
        for url in dict.fromkeys([*in_pool, *proxies.states, *users]):
            if url in users or url in proxies.states:
                view = proxies.state(url).public_dict()
                views.append({**view, "pool": url in in_pool, "accounts": sorted(users.pop(url, []))})
        return {"proxies": views, "direct": direct}

    async def proxies(self, request: Request) -> Response:
        return _json(self._proxies_view(request))

    async def check_proxies(self, request: Request) -> Response:
        """Health-check the pool now (the background check runs every ``proxy_check_interval``)."""
        state = self._state(request)
        await state.pool.http.proxies.check_all(health_target(state.settings.upstream_endpoints))
        return _json(self._proxies_view(request))

    # -- OAuth login ------------------------------------------------------------------------------

    def _flows(self, request: Request) -> LoginFlows:
        state = self._state(request)
        flows: LoginFlows | None = getattr(state, "login_flows", None)
        if flows is None:
            flows = LoginFlows(state.pool.oauth, state.pool.store)
            state.login_flows = flows
        return flows

    async def oauth_clients(self, request: Request) -> Response:
        """The OAuth client profiles to choose from (names only: never a secret)."""
        profiles = self._state(request).pool.oauth.profiles
        return _json(
            {
                "default": profiles.default.name,
                "clients": [{"name": p.name, "builtin": p.builtin} for p in profiles.all],
            }
        )

    async def oauth_start(self, request: Request) -> Response:
        body = await self._body(request)
        redirect = str(_public_url(request, request.url_for("oauth_callback")))
        flow = await self._flows(request).start(
            redirect, login_hint=str(body.get("login_hint") or ""), client=str(body.get("client") or "")
        )
        return _json({"url": flow.url, "state": flow.state, "redirect_uri": redirect})

    async def oauth_callback(self, request: Request) -> Response:
        state = self._state(request)
        if error := request.query_params.get("error"):
            return HTMLResponse(_page(f"Google refused the login: {error}."), status_code=400)
        try:
            flow = await self._flows(request).take(request.query_params.get("state") or "")
            token = await self._flows(request).refresh_token_for(flow, request.query_params.get("code", ""))
            account = await state.pool.add(token, client=flow.client_id)
        except (GatewayError, UpstreamHTTPError) as exc:
            message = exc.message if isinstance(exc, GatewayError) else str(exc)
            return HTMLResponse(_page(f"The login could not be completed: {message}"), status_code=400)
        await _refresh_quietly(state.catalog, account)
        return RedirectResponse(f"/ui/#/accounts?added={quote(account.email)}", status_code=303)

    async def oauth_complete(self, request: Request) -> Response:
        state = self._state(request)
        body = await self._body(request)
        code, pasted_state = parse_response(str(body.get("response") or ""))
        flows = self._flows(request)
        flow = await flows.take(pasted_state or str(body.get("state") or "") or None)
        token = await flows.refresh_token_for(flow, code)
        account = await state.pool.add(token, client=flow.client_id)
        await _refresh_quietly(state.catalog, account)
        return _json(self._account_view(request, account), 201)

    # -- settings ---------------------------------------------------------------------------------

    def _settings_view(self, settings: Settings) -> dict[str, Any]:
        view = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
        view["admin_password_set"] = bool(settings.admin_password)
        return view

    async def get_settings(self, request: Request) -> Response:
        return _json(self._settings_view(self._state(request).settings))

    async def patch_settings(self, request: Request) -> Response:
        settings: Settings = self._state(request).settings
        changes = await self._body(request)
        unknown = set(changes) - WRITABLE_SETTINGS
        if unknown:
            raise InvalidRequest(f"these settings cannot be changed here: {', '.join(sorted(unknown))}")
        try:
            values = validated(settings, changes)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        after = settings.model_copy(update=values)
        if after.exposed and not after.admin_password:
            raise InvalidRequest(
                "set an admin password first: a gateway reachable from the network (allow_lan, or a host "
                "that is not a loopback address) needs one"
            )
        update_config(settings.home / "config.toml", values)
        restart = apply_live(settings, values)
        body: dict[str, Any] = {"settings": self._settings_view(settings), "restart_required": restart}
        if warning := await self._share(request, values):
            body["warning"] = warning
        response = _json(body)
        if values.get("admin_password"):
            await self._open_session(request, response, settings.admin_password)  # the other sessions end
        return response

    async def new_api_key(self, request: Request) -> Response:
        settings: Settings = self._state(request).settings
        key = "sk-" + secrets.token_urlsafe(32)
        update_config(settings.home / "config.toml", {"api_key": key})
        settings.api_key = key
        body = {"api_key": key}
        if warning := await self._share(request, ["api_key"]):
            body["warning"] = warning
        return _json(body)

    async def _share(self, request: Request, keys: Collection[str]) -> str:
        """Share the live settings just changed with the other hosts (Redis); a warning if it failed."""
        state = self._state(request)
        try:
            await share_settings(state.settings, state.pool.store, keys)
        except StoreUnavailable as exc:
            return f"applied on this host only: {exc.message}"
        return ""

    # -- logs, stats ------------------------------------------------------------------------------

    async def logs(self, request: Request) -> Response:
        params = request.query_params

        def row_id(name: str) -> int | None:
            value = params.get(name)
            return int_in_range(value, name, 0, INT64_MAX) if value else None

        query = RequestQuery(
            limit=int_in_range(params.get("limit") or 100, "limit", 1, MAX_LOG_PAGE),
            before_id=row_id("before_id"),
            after_id=row_id("after_id"),
            model=params.get("model", ""),
            account=params.get("account", ""),
            protocol=params.get("protocol", ""),
            key=params.get("key", ""),
            errors_only=params.get("errors_only", "") in ("1", "true", "yes"),
        )
        state = self._state(request)
        await state.request_logger.flush()
        records = await state.pool.store.query_requests(query)
        items = [r.public_dict() for r in records]
        next_before = records[-1].id if len(records) == query.limit else None
        return _json({"items": items, "next_before_id": next_before})

    async def log_detail(self, request: Request) -> Response:
        raw = request.path_params["request_id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > INT64_MAX:
            raise NotFound("no such request")
        request_id = int(raw)
        state = self._state(request)
        await state.request_logger.flush()
        record = await state.pool.store.get_request(request_id)
        if record is None:
            raise NotFound("no such request")
        return _json(record.public_dict(bodies=True))

    async def stats(self, request: Request) -> Response:
        params = request.query_params
        period = params.get("period", "hour")
        if period not in ("hour", "day"):
            raise InvalidRequest("period must be hour or day")
        try:
            hours = float(params.get("hours") or 24)
        except ValueError:
            raise InvalidRequest("hours must be a number") from None
        state = self._state(request)
        await state.request_logger.flush()
        store = state.pool.store
        since = time.time() - hours * 3600
        series = await store.request_stats(since=since, bucket=period, group="none")
        return _json(
            {
                "series": [{k: v for k, v in row.items() if k != "key"} for row in series],
                "by_model": _totals(await store.request_stats(since=since, bucket="day", group="model")),
                "by_account": _totals(await store.request_stats(since=since, bucket="day", group="account")),
                "by_key": _totals(await store.request_stats(since=since, bucket="day", group="key")),
            }
        )

    # -- user keys --------------------------------------------------------------------------------

    async def _key_views(self, request: Request, keys: list[ApiKey]) -> list[dict[str, Any]]:
        """Each key with today's totals (UTC) and its requests in flight (every process's)."""
        store = self._state(request).pool.store
        now = time.time()
        today = {u.name: u for u in await store.key_usage(since_day=utc_day(now))}
        in_flight = await store.keys_in_flight()
        return [
            {
                **key.public_dict(now),
                "today": today.get(key.name, KeyUsage(key.name, utc_day(now))).public_dict(),
                "in_flight": in_flight.get(key.name, 0),
            }
            for key in keys
        ]

    async def _applied(self, request: Request) -> None:
        """Reload this process's key table at once (the others follow within a second)."""
        state = self._state(request)
        await state.keys.load(state.pool.store)

    async def list_keys(self, request: Request) -> Response:
        store = self._state(request).pool.store
        return _json(await self._key_views(request, await store.list_keys()))

    async def add_key(self, request: Request) -> Response:
        """``{"name", "models", "rpm", "tokens_per_day", "concurrency", "expires", "ips", "note"}`` →
        201 ``{"key", "secret"}``: the secret is in this answer only."""
        body = await self._body(request)
        name = body.pop("name", None)
        if not isinstance(name, str):
            raise InvalidRequest("name is required", param="name")
        key, secret = await manage.add(self._state(request).pool.store, name, body)
        await self._applied(request)
        (view,) = await self._key_views(request, [key])
        return _json({"key": view, "secret": secret}, 201)

    async def _named(self, request: Request) -> ApiKey:
        store: Store = self._state(request).pool.store
        key = await store.get_key(request.path_params["name"])
        if key is None:
            raise NotFound(f"no API key named {request.path_params['name']!r}")
        return key

    async def get_key(self, request: Request) -> Response:
        (view,) = await self._key_views(request, [await self._named(request)])
        return _json(view)

    async def patch_key(self, request: Request) -> Response:
        body = await self._body(request)
        key = await manage.edit(self._state(request).pool.store, request.path_params["name"], body)
        await self._applied(request)
        (view,) = await self._key_views(request, [key])
        return _json(view)

    async def rotate_key(self, request: Request) -> Response:
        key, secret = await manage.rotate(self._state(request).pool.store, request.path_params["name"])
        await self._applied(request)
        (view,) = await self._key_views(request, [key])
        return _json({"key": view, "secret": secret})

    async def revoke_key(self, request: Request) -> Response:
        key = await manage.revoke(self._state(request).pool.store, request.path_params["name"])
        await self._applied(request)
        (view,) = await self._key_views(request, [key])
        return _json(view)

    async def delete_key(self, request: Request) -> Response:
        await manage.remove(self._state(request).pool.store, request.path_params["name"])
        await self._applied(request)
        return _json({"ok": True})

    async def key_usage(self, request: Request) -> Response:
        """Daily totals per key (UTC days) since ``since`` (a duration back or a date; default 7d), of
        one key (``name``) or all."""
        params = request.query_params
        try:
            first = parse.since(params.get("since") or "7d")
        except ValueError as exc:
            raise InvalidRequest(f"since: {exc}", param="since") from None
        rows = await self._state(request).pool.store.key_usage(
            params.get("name") or None, since_day=utc_day(first)
        )
        return _json([r.public_dict() for r in rows])

    # -- cooldowns, bindings, quick start ---------------------------------------------------------

    async def clear_cooldowns(self, request: Request) -> Response:
        body = await self._body(request)
        account_id = body.get("account_id")
        scheduler: Scheduler = self._state(request).scheduler
        scheduler.clear_cooldowns(str(account_id) if account_id else None)
        return _json({"ok": True})

    async def clear_bindings(self, request: Request) -> Response:
        self._state(request).scheduler.clear_bindings()
        return _json({"ok": True})

    async def quickstart(self, request: Request) -> Response:
        state = self._state(request)
        pipeline: Pipeline = state.pipeline
        base = f"{request.url.scheme}://{request.url.netloc}"
        return _json({"base_url": base, "api_key": state.settings.api_key, "models": pipeline.model_ids()})

    async def doctor(self, request: Request) -> Response:
        """``agw doctor`` for the dashboard; the port is the one this request came in on."""
        state = self._state(request)
        server = request.scope.get("server")
        port = int(server[1]) if server and server[1] else None
        checks = await diagnose(state.settings, state.pool.http, state.pool, state.catalog, port=port)
        return _json(report(checks))

    # -- routes -----------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to ``/api`` (the app mounts them there)."""
        g = self.guarded
        return [
            Route("/session", self.session, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/overview", g(self.overview), methods=["GET"]),
            Route("/accounts", g(self.list_accounts), methods=["GET"]),
            Route("/accounts", g(self.add_account), methods=["POST"]),
            Route("/accounts/import", g(self.import_accounts), methods=["POST"]),
            Route("/accounts/export", g(self.export), methods=["GET"]),
            Route("/accounts/quota", g(self.refresh_all_quota), methods=["POST"]),
            Route("/accounts/{account_id}", g(self.patch_account), methods=["PATCH"]),
            Route("/accounts/{account_id}", g(self.delete_account), methods=["DELETE"]),
            Route("/accounts/{account_id}/enable", g(self.enable), methods=["POST"]),
            Route("/accounts/{account_id}/disable", g(self.disable), methods=["POST"]),
            Route("/accounts/{account_id}/quota", g(self.refresh_quota), methods=["POST"]),
            Route("/proxies", g(self.proxies), methods=["GET"]),
            Route("/proxies/check", g(self.check_proxies), methods=["POST"]),
            Route("/oauth/clients", g(self.oauth_clients), methods=["GET"]),
            Route("/oauth/start", g(self.oauth_start), methods=["POST"]),
            Route("/oauth/callback", self.oauth_callback, methods=["GET"], name="oauth_callback"),
            Route("/oauth/complete", g(self.oauth_complete), methods=["POST"]),
            Route("/settings", g(self.get_settings), methods=["GET"]),
            Route("/settings", g(self.patch_settings), methods=["PATCH"]),
            Route("/settings/api-key", g(self.new_api_key), methods=["POST"]),
            Route("/logs", g(self.logs), methods=["GET"]),
            Route("/logs/{request_id}", g(self.log_detail), methods=["GET"]),
            Route("/stats", g(self.stats), methods=["GET"]),
            Route("/keys", g(self.list_keys), methods=["GET"]),
            Route("/keys", g(self.add_key), methods=["POST"]),
            Route("/keys/{name}", g(self.get_key), methods=["GET"]),
            Route("/keys/{name}", g(self.patch_key), methods=["PATCH"]),
            Route("/keys/{name}", g(self.delete_key), methods=["DELETE"]),
            Route("/keys/{name}/rotate", g(self.rotate_key), methods=["POST"]),
            Route("/keys/{name}/revoke", g(self.revoke_key), methods=["POST"]),
            Route("/key-usage", g(self.key_usage), methods=["GET"]),
            Route("/cooldowns/clear", g(self.clear_cooldowns), methods=["POST"]),
            Route("/bindings/clear", g(self.clear_bindings), methods=["POST"]),
            Route("/quickstart", g(self.quickstart), methods=["GET"]),
            Route("/doctor", g(self.doctor), methods=["GET"]),
        ]


async def _refresh_quietly(catalog: ModelCatalog, account: Account) -> None:
    try:
        await catalog.refresh(account)
    except (GatewayError, UpstreamHTTPError):
        pass  # the account works; its quota is fetched again in the background


def _totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["key"] or "(none)"
        entry = totals.setdefault(
            key,
            {
                "key": key,
                "requests": 0,
                "errors": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_tokens": 0,
                "last_ts": None,
            },
        )
        for name in ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens"):
            entry[name] += int(row[name] or 0)
        if row.get("last_ts") is not None:
            entry["last_ts"] = max(entry["last_ts"] or 0.0, float(row["last_ts"]))
    return sorted(totals.values(), key=lambda e: -e["requests"])


def _public_url(request: Request, url: URL) -> URL:
    """``url`` as the browser reaches the gateway, also behind a TLS-terminating reverse proxy listed
    in ``trusted_proxies`` (``X-Forwarded-Proto`` / ``X-Forwarded-Host``)."""
    settings: Settings = request.app.state.settings
    if not from_trusted_proxy(request.scope, settings):
        return url
    url = url.replace(scheme=request_scheme(request.scope, settings))
    if host := request.headers.get("x-forwarded-host", "").split(",")[0].strip():
        url = url.replace(netloc=host)
    return url


def _proxy_url(value: Any, current: str) -> str:
    """A PATCHed ``proxy_url``: ``""``/``none`` removes it; the redacted current value keeps it."""
    text = str(value or "").strip()
    if text.lower() in ("", "none"):
        return ""
    if current and text == redact(current):
        return current  # the form sent back what it was shown
    try:
        return check_url(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="proxy_url") from None


def _too_many(wait: float) -> Response:
    response = _error(f"too many failed logins from this address: try again in {math.ceil(wait)} s", 429)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _page(message: str) -> str:
    from html import escape

    return (
        "<!doctype html><meta charset=utf-8><title>Antigravity Gateway</title>"
        f"<p>{escape(message)}</p><p><a href=/ui/#/accounts>Back to the dashboard</a></p>"
    )
