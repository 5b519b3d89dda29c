"""The pool of Google accounts: adding them, their access tokens and their state.

Accounts live in memory and are written through to the store. Access tokens are refreshed ahead of
expiry, once per account however many requests wait for it (single flight); a rotated refresh token is
saved; ``invalid_grant`` disables the account with the reason. Changes made by another process (the
CLI while the gateway runs) are picked up by :meth:`AccountPool.sync`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.accounts.profiles import Profile, client_too_old
from antigravity_gateway.accounts.project import setup_project
from antigravity_gateway.errors import InvalidGrant, NotFound, ValidationRequired
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account, AccountStatus, Store, https_url
from antigravity_gateway.upstream.client import Route, UpstreamClient, UpstreamHTTPError
from antigravity_gateway.upstream.proxies import check_url

logger = logging.getLogger(__name__)

VALIDATION_RETRY_SECONDS = 600.0


class AccountPool:
    def __init__(self, settings: Settings, store: Store, http: UpstreamClient) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self.oauth = OAuth(settings, http)
        self.accounts: dict[str, Account] = {}
        self._refreshing: dict[str, asyncio.Task[str]] = {}
        self._project_setup: dict[str, asyncio.Task[None]] = {}
        self.on_refresh: Callable[[bool], None] | None = None  # after each access-token refresh (ok?)

    async def load(self) -> None:
        self.accounts = {a.id: a for a in await self.store.list_accounts()}
        for account in self.accounts.values():  # the store's order: the same pool proxies after a restart
            self.proxy_of(account)

    async def sync(self) -> None:
        """Merge what the store holds (other processes may have changed it) into memory."""
        stored = {a.id: a for a in await self.store.list_accounts()}
        for account_id in list(self.accounts):
            if account_id not in stored:
                del self.accounts[account_id]
        for account_id, fresh in stored.items():
            current = self.accounts.get(account_id)
            if current is None:
                self.accounts[account_id] = fresh
                continue
            if fresh.access_token_expires_at > current.access_token_expires_at:
                current.access_token = fresh.access_token
                current.access_token_expires_at = fresh.access_token_expires_at
                current.refresh_token = fresh.refresh_token
                current.oauth_client_id = fresh.oauth_client_id
            for name in (
                "status",
                "status_reason",
                "status_until",
                "validation_url",
                "label",
                "priority",
                "proxy_url",
            ):
                setattr(current, name, getattr(fresh, name))
            if fresh.project_id:
                current.project_id, current.tier_id, current.tier_name = (
                    fresh.project_id,
                    fresh.tier_id,
                    fresh.tier_name,
                )

    def find(self, id_or_email: str) -> Account:
        for account in self.accounts.values():
            if id_or_email in (account.id, account.email):
                return account
        raise NotFound(f"no account {id_or_email!r}")

    async def save(self, account: Account) -> None:
        self.accounts[account.id] = account
        await self.store.save_account(account)

    async def remove(self, account: Account) -> None:
        self.accounts.pop(account.id, None)
        self.http.proxies.forget(account.id)
        await self.store.delete_account(account.id)

    async def set_status(
        self, account: Account, status: AccountStatus, reason: str = "", *, until: float = 0.0, url: str = ""
    ) -> None:
        account.status, account.status_reason, account.status_until = status, reason, until
        account.validation_url = https_url(url)
        await self.save(account)

    def profile_of(self, account: Account) -> Profile:
        """The account's OAuth client profile (the default one while its client is not known yet)."""
        profiles = self.oauth.profiles
        return profiles.for_client_id(account.oauth_client_id) or profiles.default

    def route(self, account: Account, model: str = "") -> Route:
        """Where, as whom and through which proxy the account's v1internal calls go (its profile's
        endpoints and User-Agent, :meth:`proxy_of`)."""
        route = self.oauth.profiles.route(self.profile_of(account), model)
        return dataclasses.replace(route, proxy=self.proxy_of(account))

    def proxy_of(self, account: Account) -> str:
        """The proxy of the account's calls: its own, else its sticky pool proxy, else the global one
        (``""``: none configured, the standard proxy variables decide)."""
        return self.http.proxies.for_account(account.id, account.proxy_url)

    async def set_proxy(self, account: Account, proxy_url: str) -> None:
        """Give the account its own proxy (``""``: none, back to the pool's or the global one)."""
        account.proxy_url = check_url(proxy_url) if proxy_url else ""
        await self.save(account)

    # -- tokens -----------------------------------------------------------------------------------

    async def access_token(self, account: Account, *, stale: str | None = None) -> str:
        """A valid access token. ``stale``: a token the upstream refused (401); forces one refresh."""
        fresh_enough = account.access_token_expires_at - self.settings.token_refresh_skew > time.time()
        if account.access_token and fresh_enough and account.access_token != stale:
            return account.access_token
        task = self._refreshing.get(account.id)
        if task is None:
            task = asyncio.create_task(self._refresh(account))
            self._refreshing[account.id] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(account.id, None))
        return await asyncio.shield(task)

    async def _refresh(self, account: Account) -> str:
        try:
            grant = await self.oauth.refresh(
                account.refresh_token, account.oauth_client_id, proxy=self.proxy_of(account)
            )
        except Exception as exc:
            if self.on_refresh is not None:
                self.on_refresh(False)
            if not isinstance(exc, InvalidGrant):
                raise
            logger.warning("account %s: refresh token refused (invalid_grant); disabling it", account.email)
            await self.set_status(
                account, "invalid_grant", f"{exc.message}; log in again or re-add the account"
            )
            raise
        if self.on_refresh is not None:
            self.on_refresh(True)
        account.access_token = grant.access_token
        account.access_token_expires_at = grant.expires_at
        account.oauth_client_id = grant.client_id
        if grant.refresh_token:
            account.refresh_token = grant.refresh_token
        await self.save(account)
        logger.info("account %s: access token refreshed", account.email)
        return grant.access_token

    async def ensure_project(self, account: Account) -> str:
        """The account's project, discovering or onboarding it once if needed."""
        if account.project_id:
            return account.project_id
        task = self._project_setup.get(account.id)
        if task is None:
            task = asyncio.create_task(self._setup_project(account))
            self._project_setup[account.id] = task
            task.add_done_callback(lambda _t: self._project_setup.pop(account.id, None))
        await asyncio.shield(task)
        return account.project_id

    async def _setup_project(self, account: Account) -> None:
        token = await self.access_token(account)
        try:
            info = await setup_project(
                self.http,
                token,
                poll_interval=self.settings.onboard_poll_interval,
                route=self.route(account),
                ide_type=self.profile_of(account).ide_type,
            )
        except UpstreamHTTPError as exc:
            if exc.error.kind == "client_too_old":  # the gateway's User-Agent: the account is fine
                route = self.route(account)
                raise client_too_old(self.profile_of(account), route.user_agent, exc.error.message) from None
            raise
        except ValidationRequired as exc:
            await self.set_status(
                account,
                "validation_required",
                exc.message,
                until=time.time() + VALIDATION_RETRY_SECONDS,
                url=exc.validation_url,
            )
            raise
        account.project_id, account.tier_id, account.tier_name = info.project_id, info.tier_id, info.tier_name
        await self.save(account)

    # -- adding -----------------------------------------------------------------------------------

    async def add(
        self, refresh_token: str, *, label: str = "", client: str = "", proxy_url: str = ""
    ) -> Account:
        """Check a refresh token end to end (refresh, email, project) and store the account.

        ``client`` (a profile name, a custom client's label or a client id) is tried first, then the
        other profiles. Adding an email that is already in the pool updates that account instead of
        duplicating it. ``proxy_url``: the account's own proxy, used from the first call on (without
        one, an account already in the pool keeps its own; a new one uses the pool's or the global one).
        """
        refresh_token = refresh_token.strip()
        proxy_url = check_url(proxy_url) if proxy_url else ""
        first = self.oauth.profiles.get(client) if client else None
        grant = await self.oauth.refresh(refresh_token, first, proxy=proxy_url or None)
        info = await self.oauth.userinfo(grant.access_token, proxy=proxy_url or None)
        email = str(info["email"])
        account = next((a for a in self.accounts.values() if a.email == email), None)
        if account is None:
            account = Account(email=email, refresh_token=refresh_token)
        if proxy_url:
            account.proxy_url = proxy_url
        account.refresh_token = grant.refresh_token or refresh_token
        account.access_token, account.access_token_expires_at = grant.access_token, grant.expires_at
        account.oauth_client_id = grant.client_id
        account.status, account.status_reason, account.status_until, account.validation_url = (
            "enabled",
            "",
            0.0,
            "",
        )
        if label:
            account.label = label
        account.project_id = ""
        known = account.id in self.accounts
        self.accounts[account.id] = account
        try:
            await self._setup_project(account)  # saves the account, also when Google wants a verification
        except ValidationRequired:
            raise
        except Exception:
            if not known:
                self.accounts.pop(account.id, None)
            raise
        return account
