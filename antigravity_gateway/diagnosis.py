"""``agw doctor``: "why doesn't it work", as a list of independent checks.

Each check gives one :class:`Check` (a name, ``ok``/``warn``/``fail``, what it found, and the fix). The
checks use the gateway's own code paths: a token refresh through the :class:`AccountPool`, the
``countTokens`` of the :class:`UpstreamClient` on the account's route, the quota through the
:class:`ModelCatalog`. They change nothing a user would not expect: no cooldown or binding is recorded;
what they do change is what the gateway itself would (a fresh access token, a refreshed quota, an account
whose refresh token Google refused marked ``invalid_grant``).

The CLI (``cli/doctor.py``), the admin API (``GET /api/doctor``) and the dashboard show the same list.
Adding a check is a function returning a :class:`Check` and a line in :func:`diagnose`. No message
holds a secret: only emails, ids, paths, settings' names and what Google said.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import sys
import time
import tomllib
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import ValidationError

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.profiles import Profile
from antigravity_gateway.config_file import validated
from antigravity_gateway.errors import (
    ClientTooOld,
    GatewayError,
    InvalidGrant,
    OAuthError,
    ProjectSetupError,
    ValidationRequired,
)
from antigravity_gateway.port import bind_error
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.upstream import envelope
from antigravity_gateway.upstream.client import UpstreamClient, UpstreamHTTPError
from antigravity_gateway.upstream.proxies import check_proxy, health_target, redact
from antigravity_gateway.web.auth import auth_mode
from antigravity_gateway.web.security import posture_warnings

logger = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]

#: The smallest Python the gateway supports.
MIN_PYTHON = (3, 11)
#: Clock skew against Google's ``Date`` (seconds): above WARN timestamps from Google (quota resets) are
#: off by that much; above FAIL TLS and OAuth start to break.
SKEW_WARN = 30.0
SKEW_FAIL = 300.0
#: How long the port probe waits for an answer.
PORT_TIMEOUT = 5.0
#: The model a one-token countTokens asks about when the account has it (else its first model).
PROBE_MODEL = "gemini-2.5-flash"
#: How long one check that asks Google may take, and how many accounts are checked at once.
CHECK_TIMEOUT = 60.0
PARALLEL_ACCOUNTS = 8


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check: ``status`` ok / warn / fail, ``detail`` what was found, ``fix`` what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(checks: list[Check]) -> bool:
    """Whether something is wrong (``agw doctor`` exits non-zero)."""
    return any(c.status == "fail" for c in checks)


def report(checks: list[Check]) -> dict[str, Any]:
    """The JSON form (``agw doctor --json`` and ``GET /api/doctor``)."""
    return {"ok": not failed(checks), "checks": [c.as_dict() for c in checks]}


# -- the machine ----------------------------------------------------------------------------------


def python_check(version: tuple[int, int, int] | None = None) -> Check:
    major, minor, micro = version or sys.version_info[:3]
    found = f"Python {major}.{minor}.{micro} ({sys.executable})"
    if (major, minor) < MIN_PYTHON:
        return Check(
            "python",
            "fail",
            found,
            f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer and reinstall the gateway with it",
        )
    return Check("python", "ok", found)


def home_check(home: Path) -> Check:
    """AGW_HOME: a directory this user can write, not readable by others (it holds the tokens)."""
    if not home.exists():
        return Check(
            "home", "ok", f"{home} does not exist yet; it is created (mode 0700) when an account is added"
        )
    if not home.is_dir():
        return Check("home", "fail", f"{home} is not a directory", "point AGW_HOME at a directory")
    if not os.access(home, os.W_OK | os.X_OK):
        return Check(
            "home",
            "fail",
            f"{home} is not writable by this user",
            f"run the gateway as the owner of {home}, or fix it: chmod u+rwx {home}",
        )
    loose = [
        p for p in (home, home / "gateway.db", home / "config.toml") if p.exists() and _others_can_read(p)
    ]
    if loose:
        return Check(
            "home",
            "warn",
            f"{', '.join(str(p) for p in loose)} can be read by other users (it holds account tokens)",
            f"chmod 700 {home} && chmod 600 {home}/gateway.db {home}/config.toml",
        )
    return Check("home", "ok", f"{home} (private to this user)")


def _others_can_read(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def config_check(home: Path, settings: Settings | None, error: Exception | None = None) -> Check:
    """config.toml parses, names known settings and holds valid values.

    ``error``: why the settings could not be loaded at all (the CLI passes it; the other checks are
    then skipped)."""
    path = home / "config.toml"
    fix = f"edit {path} (`agw help config` lists every setting), or `agw config unset NAME`"
    if error is not None:
        return Check("config", "fail", f"the settings cannot be loaded: {_describe(error)}", fix)
    if not path.exists():
        return Check("config", "ok", f"no {path}: defaults and AGW_* variables")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        return Check("config", "fail", f"{path} does not parse: {exc}", fix)
    unknown = sorted(set(data) - set(Settings.model_fields))
    known = {k: v for k, v in data.items() if k in Settings.model_fields and k != "secret_key"}
    if settings is not None:
        try:
            validated(settings, known)
        except ValueError as exc:
            return Check("config", "fail", f"{path}: {exc}", fix)
    if unknown:
        return Check(
            "config",
            "warn",
            f"{path} sets unknown names, which are ignored: {', '.join(unknown)}",
            "fix their spelling (`agw help config` lists every setting) or remove them",
        )
    return Check("config", "ok", f"{path} parses ({len(data)} setting{'s' if len(data) != 1 else ''})")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc) or exc.__class__.__name__


# -- the network side of this machine --------------------------------------------------------------


async def port_check(settings: Settings, port: int | None = None) -> Check:
    """Whether the port is free, or held by an Antigravity Gateway (recognised by its ``/healthz``)."""
    port = settings.port if port is None else port
    if port == 0:
        return Check("port", "ok", "port 0: the system picks a free port when the gateway starts")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.bind_host, settings.bind_host)
    where = f"{settings.bind_host}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PORT_TIMEOUT)
    except (OSError, TimeoutError):
        problem = _bind_problem(settings.bind_host, port)
        if problem:
            return Check(
                "port", "fail", problem, "use another port: --port, AGW_PORT or `agw config set port N`"
            )
        return Check("port", "ok", f"{where} is free")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    gateway = await _gateway_at(host, port)
    if gateway is not None:
        return Check("port", "ok", f"{where} is held by {gateway}")
    return Check(
        "port",
        "fail",
        f"{where} is in use by another program (not an Antigravity Gateway)",
        "stop that program, or give the gateway another port: --port, AGW_PORT or `agw config set port N`",
    )


def _bind_problem(host: str, port: int) -> str:
    exc = bind_error(host, port)
    if exc is None:
        return ""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use (by a program that does not answer on {host})"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need root)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


async def _gateway_at(host: str, port: int) -> str | None:
    """Which Antigravity Gateway answers on ``host:port`` (its version, when ``/healthz`` tells it), or
    ``None`` when what answers is something else. Nothing secret is sent (no key: the program may be
    anyone's)."""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = {"Host": f"localhost:{port}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=PORT_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://{netloc}/healthz", headers=headers) as resp:
                health = _json_or_none(await resp.read()) if resp.status == 200 else None
            if (
                isinstance(health, dict)
                and health.get("status") == "ok"
                and isinstance(health.get("accounts"), dict)
                and "version" in health
            ):
                return f"Antigravity Gateway {health['version']} (running)"
            # auth_mode strict also guards /healthz; the dashboard's session route stays open
            async with session.get(f"http://{netloc}/api/session", headers=headers) as resp:
                session_info = _json_or_none(await resp.read()) if resp.status == 200 else None
            if isinstance(session_info, dict) and {"authenticated", "password_required", "lan"} <= set(
                session_info
            ):
                return "an Antigravity Gateway (running; its /healthz wants the client key)"
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return None


def _json_or_none(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def posture_check(settings: Settings, user_keys: int = 0) -> Check:
    """Who can reach the gateway, and whether clients and the dashboard need a key or a password
    (``user_keys``: how many user keys there are)."""
    mode = auth_mode(settings, bool(user_keys))
    where = (
        "reachable from the network" if settings.exposed else f"on {settings.bind_host} (this machine only)"
    )
    keys = "clients need the API key" if mode != "off" else "no client key needed"
    if user_keys:
        keys += f" or one of {user_keys} user key{'s' if user_keys != 1 else ''}"
    if mode == "all_except_health":
        keys += " (but /healthz)"
    dashboard = "admin password set" if settings.admin_password else "no admin password"
    detail = f"{where}; auth mode {mode}: {keys}; {dashboard}"
    warnings = posture_warnings(settings, user_keys)
    if not warnings:
        return Check("auth", "ok", detail)
    refused = mode != "off" and not settings.api_key and not user_keys
    fix = (
        'set a client key: `agw config set api_key "$(openssl rand -hex 24)"` (or AGW_API_KEY)'
        if refused
        else "set an admin password: `agw config set admin_password ...` (or AGW_ADMIN_PASSWORD)"
        if settings.exposed and not settings.admin_password
        else "remove auth_mode = off (`agw config unset auth_mode`): it is ignored on an exposed gateway"
        if settings.exposed
        else "remove auth_mode = off (`agw config unset auth_mode`): user keys are not checked while it is on"
    )
    return Check("auth", "fail" if refused else "warn", f"{detail}: {'; '.join(warnings)}", fix)


# -- Google ---------------------------------------------------------------------------------------


async def profile_check(oauth: OAuth, profile: Profile, accounts: list[Account]) -> Check:
    """Whether Google's token endpoint knows the profile's client (id and secret)."""
    users = sum(1 for a in accounts if a.oauth_client_id == profile.client_id)
    kind = "built-in client" if profile.builtin else f"your client {profile.client_id}"
    name = f"oauth client {profile.name}"
    used = f"{users} account{'s' if users != 1 else ''}"
    try:
        known, said = await oauth.check_client(profile)
    except GatewayError as exc:
        return Check(
            name,
            "fail",
            f"the token endpoint cannot be reached: {exc.message}",
            "check the network (and a proxy, if one is needed) and oauth_token_url",
        )
    if known:
        return Check(name, "ok", f"{kind}, known to Google; used by {used}")
    fix = (
        "check oauth_client_id / oauth_client_secret (or the entry in oauth_clients): the id and secret "
        "must be those of an OAuth client of type Desktop app"
        if not profile.builtin
        else "the built-in client was refused: update the gateway"
    )
    return Check(
        name,
        "fail" if users or not profile.builtin else "warn",
        f"{kind}, refused by the token endpoint ({said}); used by {used}",
        fix,
    )


def configured_proxies(settings: Settings, accounts: list[Account]) -> dict[str, list[str]]:
    """Every proxy the settings and the accounts name, each with the emails of the accounts of its own."""
    proxies: dict[str, list[str]] = {}
    for url in [settings.upstream_proxy, *settings.upstream_proxies]:
        if url:
            proxies.setdefault(url, [])
    for account in accounts:
        if account.proxy_url:
            proxies.setdefault(account.proxy_url, []).append(account.email)
    return proxies


async def proxy_check(settings: Settings, url: str, emails: list[str]) -> Check:
    """Whether the proxy carries a request to the first upstream host (any answer of that host counts)."""
    name = f"proxy {redact(url)}"
    whose = f"; own proxy of {', '.join(emails)}" if emails else ""
    health = await check_proxy(url, health_target(settings.upstream_endpoints))
    if health.ok:
        return Check(name, "ok", f"reaches Google in {health.latency_ms:g} ms{whose}")
    where = (
        "`agw accounts proxy EMAIL URL|none` for an account's own proxy"
        if emails
        else "upstream_proxy / upstream_proxies"
    )
    return Check(
        name,
        "fail",
        f"does not carry requests: {health.error}{whose}",
        f"check the proxy's address, port and credentials, or change it ({where}); the gateway skips a "
        "pool proxy while it fails, but an account's own proxy fails that account's requests",
    )


@dataclass(slots=True)
class _AccountRun:
    """What one account's check met on the way (kept for the client-version check)."""

    too_old: str = ""
    calls: int = 0


async def account_check(
    pool: AccountPool, catalog: ModelCatalog, account: Account, run: _AccountRun
) -> Check:
    """Token refresh, email, project, a one-token countTokens and the quota left, for one account."""
    name = f"account {account.email}"
    login = f"log in again: `agw accounts login --login-hint {account.email}` (or re-add its refresh token)"
    if not account.usable:
        return _set_aside(name, account, login)
    found: list[str] = []
    step = "token refresh"
    try:
        token = await pool.access_token(account, stale=account.access_token or None)
        found.append(f"token refreshed (client {pool.oauth.profiles.name_of(account.oauth_client_id)})")
        step = "email"
        info = await pool.oauth.userinfo(token)
        if str(info.get("email")) != account.email:
            return Check(
                name,
                "fail",
                f"the token belongs to {info.get('email')!r}, not to this account",
                f"remove this account (`agw accounts remove {account.email}`) and log in again",
            )
        found.append("email matches")
        step = "project"
        run.calls += 1
        project = await pool.ensure_project(account)
        found.append(f"project {project}" + (f" ({account.tier_name})" if account.tier_name else ""))
        step = "quota"
        await catalog.refresh(account)
        quota = catalog.quota_view(account.id)
        step = "countTokens"
        model = _probe_model(quota)
        if model:
            body = envelope.wrap_count_tokens(
                {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, model=model
            )
            answer = await pool.http.call("countTokens", body, token, route=pool.route(account, model))
            counted = envelope.unwrap(answer) if isinstance(answer, dict) and "response" in answer else answer
            total = counted.get("totalTokens") if isinstance(counted, dict) else None
            found.append(f"countTokens on {model}: {total} token{'s' if total != 1 else ''}")
    except InvalidGrant as exc:
        return Check(name, "fail", f"{step}: {exc.message}", login)
    except ValidationRequired as exc:
        return Check(
            name,
            "fail",
            f"{step}: Google wants the account verified: {exc.message}",
            f"open {exc.validation_url} in a browser signed in as {account.email}, then `agw accounts enable "
            f"{account.email}`"
            if exc.validation_url
            else f"sign in at https://accounts.google.com as {account.email} and follow Google's steps",
        )
    except ClientTooOld as exc:
        run.too_old = exc.message
        return Check(
            name, "fail", f"{step}: Google says the client is too old", "see the client version check"
        )
    except UpstreamHTTPError as exc:
        if exc.error.kind == "client_too_old":
            run.too_old = exc.error.message
            return Check(
                name, "fail", f"{step}: Google says the client is too old", "see the client version check"
            )
        return Check(
            name,
            "fail",
            f"{step}: Google answered {exc.error.http_status} {exc.error.status}: {exc.error.message}",
            _fix_for_status(exc.error.http_status, account, login),
        )
    except OAuthError as exc:
        return Check(name, "fail", f"{step}: {exc.message}", login)
    except ProjectSetupError as exc:
        return Check(
            name,
            "fail",
            f"{step}: {exc.message}",
            f"set up Gemini Code Assist for {account.email} (a Google Cloud project with the Gemini for Google "
            "Cloud API), then run again",
        )
    except GatewayError as exc:
        return Check(
            name, "fail", f"{step}: {exc.message}", "check the network (and a proxy, if one is needed)"
        )
    status, quota_text = _quota_summary(quota)
    found.append(quota_text)
    fix = "wait for the reset, or add another account" if status == "warn" else ""
    return Check(name, status, "; ".join(found), fix)


def _set_aside(name: str, account: Account, login: str) -> Check:
    reason = f": {account.status_reason}" if account.status_reason else ""
    if account.status == "disabled":
        return Check(
            name, "warn", f"disabled{reason}", f"`agw accounts enable {account.email}` to use it again"
        )
    if account.status == "invalid_grant":
        return Check(name, "fail", f"refresh token refused{reason}", login)
    if account.status == "validation_required":
        where = (
            f"open {account.validation_url}"
            if account.validation_url
            else "sign in at https://accounts.google.com"
        )
        return Check(
            name,
            "fail",
            f"Google wants the account verified{reason}",
            f"{where} as {account.email}, then `agw accounts enable {account.email}`",
        )
    return Check(
        name,
        "fail",
        f"{account.status}{reason}",
        f"check the account at https://console.cloud.google.com, then `agw accounts enable {account.email}`",
    )


def _fix_for_status(status: int, account: Account, login: str) -> str:
    if status in (401, 403):
        return f"check that {account.email} may use Gemini Code Assist; else {login}"
    if status == 429:
        return "the account is rate limited or out of quota: wait, or add another account"
    return "Google's side failed: try again later"


def _probe_model(quota: dict[str, Any]) -> str:
    ids = [str(m["id"]) for m in quota.get("models") or []]
    return PROBE_MODEL if PROBE_MODEL in ids else (ids[0] if ids else "")


def _quota_summary(quota: dict[str, Any]) -> tuple[Status, str]:
    models = [m for m in quota.get("models") or [] if m.get("remaining") is not None]
    if not quota.get("models"):
        return "warn", "no models available to this account"
    if not models:
        return "ok", f"{len(quota['models'])} models (no quota figures from Google)"
    left = [m for m in models if m["remaining"] > 0]
    lowest = min(models, key=lambda m: m["remaining"])
    if not left:
        soonest = min((m["reset_time"] for m in models if m.get("reset_time")), default=None)
        when = (
            f"; the first reset is at {time.strftime('%Y-%m-%d %H:%M', time.localtime(soonest))}"
            if soonest
            else ""
        )
        return "warn", f"no quota left on any of its {len(models)} models{when}"
    if lowest["remaining"] >= 1:
        return "ok", f"quota left on {len(left)} of {len(models)} models (all at 100%)"
    return "ok", (
        f"quota left on {len(left)} of {len(models)} models (lowest {round(100 * lowest['remaining'])}%: "
        f"{lowest['id']})"
    )


def clock_check(http: UpstreamClient) -> Check:
    """The local clock against the ``Date`` of the token endpoint's last answer."""
    seen = http.server_date()
    if seen is None:
        return Check(
            "clock",
            "warn",
            "not checked: no answer from the token endpoint",
            "check the network, then run again",
        )
    skew = seen.local - (seen.server + 0.5)  # Date has whole seconds: its middle is the best guess
    side = "ahead of" if skew > 0 else "behind"
    detail = (
        f"{abs(skew):.0f} s {side} the token endpoint's clock"
        if abs(skew) >= 1
        else "in step with the token endpoint's clock"
    )
    if abs(skew) <= SKEW_WARN:
        return Check("clock", "ok", f"{detail} (Date header of {seen.url})")
    fix = "set the system clock right and keep it synchronised (NTP: `timedatectl set-ntp true`)"
    return Check("clock", "fail" if abs(skew) > SKEW_FAIL else "warn", detail, fix)


def client_version_check(http: UpstreamClient, runs: list[_AccountRun]) -> Check:
    """The upstream's answer to the gateway's ``User-Agent`` (section 2's "this client is too old")."""
    too_old = http.client_too_old()
    said = too_old.message if too_old is not None else next((r.too_old for r in runs if r.too_old), "")
    if said:
        agent = f"the User-Agent {too_old.user_agent!r}" if too_old is not None else "the gateway's client"
        return Check(
            "client version",
            "fail",
            f"Google refuses {agent} as too old: {said!r}",
            "set upstream_user_agent (AGW_UPSTREAM_USER_AGENT, or `agw config set upstream_user_agent "
            "'antigravity/<current version> linux/amd64'`) to the User-Agent of the application's "
            "current release",
        )
    if not any(r.calls for r in runs):
        return Check(
            "client version", "warn", "not checked: no account reached Google", "add an account first"
        )
    return Check("client version", "ok", "Google accepts the gateway's User-Agent")


# -- all of it ------------------------------------------------------------------------------------


async def _bounded(name: str, check: Awaitable[Check]) -> Check:
    """A check that asks Google, within :data:`CHECK_TIMEOUT`; a bug in it is one failed line, not a
    doctor that stops."""
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return Check(
            name,
            "fail",
            f"no answer within {CHECK_TIMEOUT:g} s",
            "check the network (and a proxy, if one is needed), then run again",
        )
    except Exception as exc:
        logger.exception("doctor: the check %s failed unexpectedly", name)
        return Check(
            name,
            "fail",
            f"the check itself failed ({exc.__class__.__name__})",
            "a bug in the gateway: run `agw doctor` again, and report it if it stays",
        )


async def diagnose(
    settings: Settings,
    http: UpstreamClient,
    pool: AccountPool | None,
    catalog: ModelCatalog | None,
    *,
    port: int | None = None,
    store_problem: Check | None = None,
) -> list[Check]:
    """Every check, in the order of the issue: this machine, the port, the posture, the OAuth clients,
    the proxies, the accounts, the clock, the client version. ``pool`` is ``None`` when there is no database yet, or
    when it could not be opened (``store_problem`` says why; the account checks are then left out)."""
    checks = [python_check(), home_check(settings.home), config_check(settings.home, settings)]
    if store_problem is not None:
        checks.append(store_problem)
    checks.append(await port_check(settings, port))
    user_keys = len(await pool.store.list_keys()) if pool is not None else 0
    checks.append(posture_check(settings, user_keys))
    oauth = pool.oauth if pool is not None else OAuth(settings, http)
    accounts = list(pool.accounts.values()) if pool is not None else []
    checks += await asyncio.gather(
        *(_bounded(f"oauth client {p.name}", profile_check(oauth, p, accounts)) for p in oauth.profiles.all)
    )
    checks += await asyncio.gather(
        *(
            _bounded(f"proxy {redact(url)}", proxy_check(settings, url, emails))
            for url, emails in configured_proxies(settings, accounts).items()
        )
    )
    runs: list[_AccountRun] = []
    if store_problem is not None:
        pass
    elif pool is None or catalog is None or not accounts:
        checks.append(
            Check(
                "accounts",
                "fail",
                "no accounts yet",
                "add one: `agw accounts login` (or `agw accounts add --refresh-token 1//...`, or the dashboard)",
            )
        )
    else:
        runs = [_AccountRun() for _ in accounts]
        limit = asyncio.Semaphore(PARALLEL_ACCOUNTS)

        async def one(account: Account, run: _AccountRun) -> Check:
            async with limit:
                return await _bounded(f"account {account.email}", account_check(pool, catalog, account, run))

        checks += await asyncio.gather(*(one(a, run) for a, run in zip(accounts, runs, strict=True)))
    checks.append(clock_check(http))
    checks.append(client_version_check(http, runs))
    return checks
