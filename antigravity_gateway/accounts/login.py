"""Adding an account by logging in with Google: OAuth authorization code with PKCE.

:class:`LoginFlows` starts a flow (consent URL with ``state`` and an S256 code challenge) and completes
it from the redirect: either the loopback callback (the browser comes back to us) or what the user
pastes — the redirected URL or the bare code — which is how it works over SSH, in a container or for
a gateway on another machine. ``state`` is checked; a flow expires after ten minutes.

Pending flows are kept in the store (:meth:`Store.put_record`), so Google's redirect may reach any
worker or host of the pool, not only the one that started the login; a flow is taken exactly once.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import orjson

from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.errors import InvalidRequest, OAuthError
from antigravity_gateway.store.base import Store

FLOW_TTL = 600.0
MAX_FLOWS = 100  # pending logins kept at once; the oldest is forgotten first
_KIND = "login"


@dataclass(slots=True, frozen=True)
class LoginFlow:
    state: str
    verifier: str
    redirect_uri: str
    client_id: str
    url: str
    created: float


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def parse_response(response: str) -> tuple[str, str | None]:
    """What the user pasted: the redirected URL (→ code, state) or a bare code (→ code, None)."""
    text = response.strip()
    if "code=" in text or text.startswith(("http://", "https://")):
        query = parse_qs(urlparse(text).query) if "?" in text else parse_qs(text)
        if "error" in query:
            raise InvalidRequest(f"Google refused the login: {query['error'][0]}")
        codes = query.get("code")
        if not codes:
            raise InvalidRequest("the pasted URL has no code= parameter")
        states = query.get("state")
        return codes[0], states[0] if states else None
    if not text:
        raise InvalidRequest("nothing was pasted")
    return text, None


class LoginFlows:
    def __init__(self, oauth: OAuth, store: Store) -> None:
        self.oauth = oauth
        self.store = store

    async def start(self, redirect_uri: str, *, login_hint: str = "", client: str = "") -> LoginFlow:
        """A new login through ``client`` (a profile name or a custom client's label; default: the
        default profile), with that profile's scopes."""
        profiles = self.oauth.profiles
        profile = profiles.get(client) if client else profiles.default
        now = time.time()
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        params = {
            "client_id": profile.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(profile.scopes),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        url = f"{self.oauth.settings.oauth_auth_url}?{urlencode(params)}"
        flow = LoginFlow(state, verifier, redirect_uri, profile.client_id, url, now)
        await self.store.put_record(
            _KIND, state, orjson.dumps(dataclasses.asdict(flow)), ttl=FLOW_TTL, max_records=MAX_FLOWS
        )
        return flow

    async def pending(self) -> list[str]:
        """The states of the pending flows, the oldest first."""
        return list(await self.store.list_records(_KIND))

    async def take(self, state: str | None) -> LoginFlow:
        """The pending flow for ``state`` (exactly once). A bare pasted code needs exactly one pending flow."""
        if state is None:
            pending = await self.pending()
            if len(pending) != 1:
                raise InvalidRequest("paste the whole redirected URL (it carries the state of the login)")
            state = pending[0]
        data = await self.store.take_record(_KIND, state) if state else None
        if data is None:
            raise InvalidRequest("unknown or expired login (state mismatch); start the login again")
        return LoginFlow(**orjson.loads(data))

    async def refresh_token_for(self, flow: LoginFlow, code: str) -> str:
        """Exchange the code for tokens; return the refresh token."""
        profile = self.oauth.profiles.for_client_id(flow.client_id)
        if profile is None:
            raise OAuthError("the OAuth client of this login is no longer configured")
        client = profile.client
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "client_id": client.id,
            "client_secret": client.secret,
            "code_verifier": flow.verifier,
        }
        status, body = await self.oauth.http.post_form(self.oauth.settings.oauth_token_url, form)
        if status != 200 or not isinstance(body, dict) or not body.get("refresh_token"):
            error = body.get("error", f"http_{status}") if isinstance(body, dict) else f"http_{status}"
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise OAuthError(
                f"the login could not be completed: {error} {description}".strip(), error=str(error)
            )
        return str(body["refresh_token"])
