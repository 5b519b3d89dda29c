"""The pool of Google accounts: adding them, their access tokens and their state.

Accounts live in memory and are written through to the store field by field, so that a process never
undoes what another one wrote (a removal, a label, a rotated refresh token). Changes made by other
processes (the CLI, other workers, other hosts on Redis) are picked up by :meth:`AccountPool.sync`.

Access tokens are refreshed ahead of expiry, once per account across every process sharing the store
(single flight): one request in a process refreshes while the others of that process wait for it, and
between processes a lease in the store (:data:`REFRESH_LEASE_TTL`) decides which one refreshes. The
lease holder first re-reads the stored tokens (another process may have refreshed already), refreshes
with the stored refresh token, and writes the new tokens only if the stored ones are still those it
started from (``token_version``). So no process sends a refresh token that was already replaced, and a
rotated one reaches every process. A process that dies holding the lease blocks the others for at most
the lease's lifetime. The refresh margin is ``token_refresh_skew`` but at most a quarter of the token's
lifetime: short-lived tokens are refreshed once per three quarters of their life, not on every request.
``invalid_grant`` disables the account with the reason, unless the stored refresh token changed meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.accounts.profiles import Profile, client_too_old
from antigravity_gateway.accounts.project import setup_project
from antigravity_gateway.errors import InvalidGrant, NotFound, UpstreamUnavailable, ValidationRequired
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import TOKEN_FIELDS, Account, AccountStatus, Store, https_url
from antigravity_gateway.upstream.client import Route, UpstreamClient, UpstreamHTTPError
from antigravity_gateway.upstream.proxies import check_url

logger = logging.getLogger(__name__)

VALIDATION_RETRY_SECONDS = 600.0
#: How long a process may hold an account's refresh lease; a refresh call is cut off well before.
REFRESH_LEASE_TTL = 60.0
#: A refresh call (all OAuth clients tried) that takes longer gives up, leaving the lease to others.
REFRESH_TIMEOUT = 45.0
#: How often a process waiting for another one's refresh looks at the store again.
REFRESH_POLL = 0.05
#: The refresh margin is at most this share of the access token's lifetime.
MAX_MARGIN_SHARE = 0.25
_STATUS_FIELDS = ("status", "status_reason", "status_until", "validation_url")
_SYNCED_FIELDS = (*_STATUS_FIELDS, "label", "priority", "proxy_url", "email")


class AccountPool:
    def __init__(self, settings: Settings, store: Store, http: UpstreamClient) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self.oauth = OAuth(settings, http)
        self.accounts: dict[str, Account] = {}
        self._refreshing: dict[str, asyncio.Task[str]] = {}
        self._project_setup: dict[str, asyncio.Task[None]] = {}
        #: This process among those sharing the store (lease holder and in-flight records).
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        #: Called after every token refresh with whether it succeeded (metrics).
        self.on_refresh: Callable[[bool], None] | None = None

    async def load(self) -> None:
        self.accounts = {a.id: a for a in await self.store.list_accounts()}
        for account in self.accounts.values():  # the store's order: the same pool proxies after a restart
            self.proxy_of(account)

    async def sync(self) -> None:
        """Merge what the store holds (other processes may have changed it) into memory: accounts
        removed or added elsewhere, their status, label, priority, proxy and project, and newer tokens."""
        stored = {a.id: a for a in await self.store.list_accounts()}
        for account_id in list(self.accounts):
            if account_id not in stored:
                self._forget(account_id)
        for account_id, fresh in stored.items():
            current = self.accounts.get(account_id)
            if current is None:
                self.accounts[account_id] = fresh
                continue
            self._adopt_tokens(current, fresh)
            for name in _SYNCED_FIELDS:
                setattr(current, name, getattr(fresh, name))
            if fresh.project_id:
                current.project_id, current.tier_id, current.tier_name = (
                    fresh.project_id,
                    fresh.tier_id,
                    fresh.tier_name,
                )

    @staticmethod
    def _adopt_tokens(current: Account, stored: Account) -> bool:
        """Take the stored tokens when they are newer than the ones in memory."""
        if stored.token_version <= current.token_version:
            return False
        for name in (*TOKEN_FIELDS, "oauth_client_id", "token_version"):
            setattr(current, name, getattr(stored, name))
        return True

    def _forget(self, account_id: str) -> None:
        self.accounts.pop(account_id, None)
        self.http.proxies.forget(account_id)

    def find(self, id_or_email: str) -> Account:
        for account in self.accounts.values():
            if id_or_email in (account.id, account.email):
                return account
        raise NotFound(f"no account {id_or_email!r}")

    async def save(self, account: Account) -> None:
        """Store the whole account: only for an account the caller made or re-made whole (adding,
        importing, logging in). Everything else changes fields with :meth:`update`."""
        self.accounts[account.id] = account
        await self.store.save_account(account)

    async def update(self, account: Account, **changes: Any) -> None:
        """Change fields of the account, here and in the store. An account removed meanwhile (by another
        process) stays removed: it leaves this process's pool and :class:`NotFound` is raised."""
        for name, value in changes.items():
            setattr(account, name, value)
        version = await self.store.update_account(account.id, changes)
        if version is None:
            self._forget(account.id)
            raise NotFound(f"account {account.email} was removed")
        if TOKEN_FIELDS & changes.keys():
            account.token_version = version

    async def remove(self, account: Account) -> None:
        self._forget(account.id)
        await self.store.delete_account(account.id)

    async def set_status(
        self, account: Account, status: AccountStatus, reason: str = "", *, until: float = 0.0, url: str = ""
    ) -> None:
        await self.update(
            account, status=status, status_reason=reason, status_until=until, validation_url=https_url(url)
        )

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
        await self.update(account, proxy_url=check_url(proxy_url) if proxy_url else "")

    # -- tokens -----------------------------------------------------------------------------------

    def fresh(self, account: Account, stale: str | None = None) -> bool:
        """Whether the account's access token may be used (not ``stale``, and outside the margin)."""
        if not account.access_token or account.access_token == stale:
            return False
        margin = self.settings.token_refresh_skew
        if account.access_token_lifetime > 0:
            margin = min(margin, account.access_token_lifetime * MAX_MARGIN_SHARE)
        return account.access_token_expires_at - margin > time.time()

    async def access_token(self, account: Account, *, stale: str | None = None) -> str:
        """A valid access token. ``stale``: a token the upstream refused (401); forces one refresh."""
        if self.fresh(account, stale):
            return account.access_token
        task = self._refreshing.get(account.id)
        if task is None:
            task = asyncio.create_task(self._refresh(account, stale))
            self._refreshing[account.id] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(account.id, None))
        return await asyncio.shield(task)

    async def _reread(self, account: Account) -> None:
        """Take the stored tokens if another process wrote newer ones; an account removed meanwhile
        leaves the pool (:class:`NotFound`)."""
        stored = await self.store.get_account(account.id)
        if stored is None:
            self._forget(account.id)
            raise NotFound(f"account {account.email} was removed")
        self._adopt_tokens(account, stored)

    async def _refresh(self, account: Account, stale: str | None) -> str:
        lease = f"refresh:{account.id}"
        waited_until = time.monotonic() + REFRESH_LEASE_TTL + REFRESH_TIMEOUT
        while True:
            await self._reread(account)
            if self.fresh(account, stale):
                return account.access_token  # another process refreshed it
            if await self.store.acquire_lease(lease, self.holder, REFRESH_LEASE_TTL):
                break
            if time.monotonic() > waited_until:  # the lease is renewed by a holder that never finishes
                raise UpstreamUnavailable(f"the access token of {account.email} could not be refreshed")
            await asyncio.sleep(REFRESH_POLL)
        try:
            await self._reread(account)  # the previous holder may have finished since the last read
            if self.fresh(account, stale):
                return account.access_token
            return await self._refresh_held(account)
        finally:
            try:
                await self.store.release_lease(lease, self.holder)
            except Exception as exc:  # the lease expires by itself
                logger.warning("account %s: refresh lease not released: %s", account.email, exc)

    async def _refresh_held(self, account: Account) -> str:
        """Refresh with the stored refresh token, holding the account's lease."""
        started_from = account.token_version
        try:
            grant = await asyncio.wait_for(
                self.oauth.refresh(
                    account.refresh_token, account.oauth_client_id, proxy=self.proxy_of(account)
                ),
                REFRESH_TIMEOUT,
            )
        except InvalidGrant as exc:
            self._refreshed(False)
            await self._reread(account)
            if account.token_version != started_from:  # replaced meanwhile (a login, an import): use it
                logger.info(
                    "account %s: refresh token replaced while it was refused; using the new one",
                    account.email,
                )
                return account.access_token if self.fresh(account) else await self._refresh_held(account)
            logger.warning("account %s: refresh token refused (invalid_grant); disabling it", account.email)
            await self.set_status(
                account, "invalid_grant", f"{exc.message}; log in again or re-add the account"
            )
            raise
        except TimeoutError:
            self._refreshed(False)
            raise UpstreamUnavailable(
                f"Google's token endpoint did not answer within {REFRESH_TIMEOUT:g} s", status=504
            ) from None
        except BaseException:
            self._refreshed(False)
            raise
        self._refreshed(True)
        tokens: dict[str, Any] = {
            "access_token": grant.access_token,
            "access_token_expires_at": grant.expires_at,
            "access_token_lifetime": grant.lifetime,
            "oauth_client_id": grant.client_id,
        }
        if grant.refresh_token:
            tokens["refresh_token"] = grant.refresh_token
        version = await self.store.update_account(account.id, tokens, expect_token_version=started_from)
        if version is None:
            # Removed, or given new tokens by a login or an import while this refresh ran: theirs win.
            await self._reread(account)
            logger.info("account %s: tokens replaced during a refresh; using the stored ones", account.email)
            if self.fresh(account):
                return account.access_token
            return grant.access_token
        for name, value in tokens.items():
            setattr(account, name, value)
        account.token_version = version
        logger.info("account %s: access token refreshed", account.email)
        return grant.access_token

    def _refreshed(self, ok: bool) -> None:
        if self.on_refresh is not None:
            self.on_refresh(ok)

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

    async def _setup_project(self, account: Account, *, whole: bool = False) -> None:
        """Discover or onboard the account's project and store it. ``whole``: the account is being
        added (:meth:`add`): it is stored whole, also when Google wants a verification."""
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
            await self._write(
                account,
                whole,
                status="validation_required",
                status_reason=exc.message,
                status_until=time.time() + VALIDATION_RETRY_SECONDS,
                validation_url=https_url(exc.validation_url),
            )
            raise
        await self._write(
            account, whole, project_id=info.project_id, tier_id=info.tier_id, tier_name=info.tier_name
        )

    async def _write(self, account: Account, whole: bool, **changes: Any) -> None:
        if not whole:
            await self.update(account, **changes)
            return
        for name, value in changes.items():
            setattr(account, name, value)
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
        account.access_token_lifetime = grant.lifetime
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
            await self._setup_project(account, whole=True)  # saved also when Google wants a verification
        except ValidationRequired:
            raise
        except Exception:
            if not known:
                self.accounts.pop(account.id, None)
            raise
        return account
