"""Google OAuth for installed apps: refresh-token exchange and the userinfo call.

A refresh token refreshes only with the OAuth client that issued it. The client profiles
(:mod:`.profiles`: the built-in ones and the user's own clients) are tried in turn, the account's own
profile (or the one asked for) first; ``invalid_client`` and ``unauthorized_client`` move on to the next
one, ``invalid_grant`` means the token is dead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from antigravity_gateway.accounts.profiles import Profile, Profiles, settings_key
from antigravity_gateway.errors import InvalidGrant, OAuthError
from antigravity_gateway.settings import Settings
from antigravity_gateway.upstream.client import UpstreamClient

logger = logging.getLogger(__name__)

_TRY_NEXT_CLIENT = frozenset({"invalid_client", "unauthorized_client"})


@dataclass(slots=True, frozen=True)
class Grant:
    """The result of a refresh. ``refresh_token`` is set only when Google rotated it."""

    access_token: str
    expires_at: float
    client_id: str
    refresh_token: str | None = None
    #: Seconds the access token was issued for.
    lifetime: float = 3600.0


class OAuth:
    def __init__(self, settings: Settings, http: UpstreamClient) -> None:
        self.settings = settings
        self.http = http
        self._profiles: tuple[tuple[object, ...], Profiles] | None = None

    @property
    def profiles(self) -> Profiles:
        """The profiles of the current settings (live settings from config.toml may change them)."""
        key = settings_key(self.settings)
        if self._profiles is None or self._profiles[0] != key:
            self._profiles = (key, Profiles(self.settings))
        return self._profiles[1]

    async def refresh(
        self, refresh_token: str, first: Profile | str | None = None, *, proxy: str | None = None
    ) -> Grant:
        """Refresh with ``first`` (a profile or the client id the account remembers), then the others.

        ``proxy``: the account's (:meth:`AccountPool.proxy_of`); ``None`` for the default one."""
        refused: list[str] = []
        for profile in self.profiles.ordered(first):
            client = profile.client
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client.id,
                "client_secret": client.secret,
            }
            status, body = await self.http.post_form(self.settings.oauth_token_url, form, proxy=proxy)
            if status == 200 and isinstance(body, dict) and body.get("access_token"):
                lifetime = float(body.get("expires_in") or 3600)
                return Grant(
                    access_token=str(body["access_token"]),
                    expires_at=time.time() + lifetime,
                    lifetime=lifetime,
                    client_id=client.id,
                    refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
                )
            error, description = _oauth_error(body, status)
            if error == "invalid_grant":
                raise InvalidGrant(f"refresh token refused: invalid_grant ({description})", error=error)
            if error in _TRY_NEXT_CLIENT:
                logger.info(
                    "OAuth client %s refused the token (%s); trying the next client", profile.name, error
                )
                refused.append(f"{profile.name}: {error}")
                continue
            raise OAuthError(f"token endpoint answered {status}: {error} ({description})", error=error)
        raise OAuthError(
            "no known OAuth client accepts this refresh token ("
            + "; ".join(refused)
            + "). It was issued by another application's client: add that client "
            "(AGW_OAUTH_CLIENT_ID / AGW_OAUTH_CLIENT_SECRET or oauth_clients; see "
            "`agw help config oauth-clients`), or log in again with `agw accounts login`.",
            error="unauthorized_client",
        )

    async def check_client(self, profile: Profile) -> tuple[bool, str]:
        """Whether Google knows the profile's client id and secret, without a user's token: a refresh
        with a made-up refresh token is refused as ``invalid_grant`` by a known client (the client is
        checked first), as ``invalid_client`` or ``unauthorized_client`` otherwise. Returns (known, what
        the token endpoint said)."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": "agw-doctor-probe",
            "client_id": profile.client.id,
            "client_secret": profile.client.secret,
        }
        status, body = await self.http.post_form(self.settings.oauth_token_url, form)
        error, description = _oauth_error(body, status)
        said = f"{status} {error}" + (f" ({description})" if description else "")
        return error == "invalid_grant", said

    async def userinfo(self, access_token: str, *, proxy: str | None = None) -> dict[str, Any]:
        status, body = await self.http.get_json(self.settings.oauth_userinfo_url, access_token, proxy=proxy)
        if status != 200 or not isinstance(body, dict) or not body.get("email"):
            raise OAuthError(f"userinfo answered {status}; cannot read the account's email")
        return body


def _oauth_error(body: Any, status: int) -> tuple[str, str]:
    if isinstance(body, dict):
        return str(body.get("error") or f"http_{status}"), str(body.get("error_description") or "")
    return f"http_{status}", ""
