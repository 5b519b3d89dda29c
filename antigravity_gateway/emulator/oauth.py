"""Emulated Google OAuth: token endpoint, userinfo and an auto-consent authorization endpoint.

* ``POST /token`` (form-encoded, like ``https://oauth2.googleapis.com/token``):
  ``grant_type=refresh_token`` and ``grant_type=authorization_code`` (PKCE ``plain``/``S256``),
  with Google's error bodies ``{"error", "error_description"}``.
* ``GET /oauth2/v2/userinfo`` with a Bearer access token.
* ``GET /o/oauth2/v2/auth``: no consent screen; immediately redirects (302) to
  ``redirect_uri?state=..&code=..&scope=..`` logged in as the ``login_hint`` account (or the first
  account). Unknown hint or no accounts: redirect with ``error=access_denied``.

Request faults use endpoint name ``"oauth"`` and methods ``"token"``, ``"userinfo"``, ``"auth"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode

from aiohttp import web

from antigravity_gateway.emulator.context import Call, bearer_token
from antigravity_gateway.emulator.rpc import UNAUTHENTICATED_MESSAGE, status_body
from antigravity_gateway.emulator.state import AuthCode

if TYPE_CHECKING:
    from antigravity_gateway.emulator.state import Emulator, EmulatorAccount

__all__ = ["SCOPE", "OAuthHandlers"]

logger = logging.getLogger(__name__)

SCOPE: Final = (
    "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
    "https://www.googleapis.com/auth/userinfo.profile openid"
)
_FORM: Final = "application/x-www-form-urlencoded"
_NO_CACHE: Final = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}
_CODE_TTL: Final = 600.0


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


class OAuthHandlers:
    """aiohttp handlers bound to one :class:`Emulator`."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self.token)
        app.router.add_get("/oauth2/v2/userinfo", self.userinfo)
        app.router.add_get("/o/oauth2/v2/auth", self.authorize)

    # -- POST /token ---------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, str] = {}
        if request.content_type == _FORM:
            form = {k: str(v) for k, v in (await request.post()).items()}
        call = Call(self.emu, request, "oauth", "token", body=form)
        call.account_email = self._email_for_form(form)
        dropped = await call.pre_faults()
        if dropped is not None:
            return dropped
        fault = call.post_fault()
        if fault is not None:
            return call.fault_response(fault)
        try:
            grant = form.get("grant_type", "")
            if grant == "refresh_token":
                body = self._refresh(form)
            elif grant == "authorization_code":
                body = self._authorization_code(form)
            else:
                raise _OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        except _OAuthError as exc:
            logger.debug("emulator oauth: %s (%s)", exc.body["error"], exc.status)
            return call.respond(exc.status, exc.body, _NO_CACHE)
        return call.respond(200, body, _NO_CACHE)

    def _email_for_form(self, form: dict[str, str]) -> str | None:
        refresh = form.get("refresh_token")
        if refresh:
            owner = self.emu.refresh_token_owner(refresh)
            return owner[0] if owner else None
        code = form.get("code")
        if code:
            with self.emu.lock:
                entry = self.emu.auth_codes.get(code)
                return entry.email if entry else None
        return None

    def _check_client(self, form: dict[str, str]) -> str:
        client_id = form.get("client_id")
        if not client_id:
            raise _OAuthError(400, "invalid_request", "Could not determine client ID from request.")
        with self.emu.lock:
            secret = self.emu.clients.get(client_id)
        if secret is None:
            raise _OAuthError(401, "invalid_client", "The OAuth client was not found.")
        given = form.get("client_secret", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise _OAuthError(401, "invalid_client", "Unauthorized")
        return client_id

    def _refresh(self, form: dict[str, str]) -> dict[str, object]:
        client_id = self._check_client(form)
        refresh = form.get("refresh_token")
        if not refresh:
            raise _OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
        emu = self.emu
        with emu.lock:
            owner = emu.refresh_token_owner_locked(refresh)
            account = emu.accounts_by_email.get(owner[0]) if owner else None
            if owner is None or account is None:
                raise _OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            if owner[1] != client_id:
                raise _OAuthError(400, "unauthorized_client", "Unauthorized")
            # Only the account's primary token rotates; tokens minted for other clients stay.
            rotate = account.rotate_refresh_token and refresh == account.refresh_token
            access, new_refresh = emu.grant_locked(account, rotate)
        body = self._token_body(account, client_id, access)
        if new_refresh is not None:
            body["refresh_token"] = new_refresh
        return body

    def _authorization_code(self, form: dict[str, str]) -> dict[str, object]:
        client_id = self._check_client(form)
        code = form.get("code")
        if not code:
            raise _OAuthError(400, "invalid_request", "Missing required parameter: code")
        emu = self.emu
        with emu.lock:
            entry = emu.auth_codes.get(code)
            if entry is None or entry.expires_at <= time.time():
                emu.auth_codes.pop(code, None)
                raise _OAuthError(400, "invalid_grant", "Malformed auth code.")
            if entry.client_id != client_id:
                raise _OAuthError(400, "unauthorized_client", "Unauthorized")
            if form.get("redirect_uri", "") != entry.redirect_uri:
                raise _OAuthError(400, "redirect_uri_mismatch", "Bad Request")
            if entry.code_challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise _OAuthError(400, "invalid_grant", "Missing code verifier.")
                if not hmac.compare_digest(
                    _challenge(verifier, entry.code_challenge_method), entry.code_challenge
                ):
                    raise _OAuthError(400, "invalid_grant", "Invalid code verifier.")
            del emu.auth_codes[code]
            account = emu.accounts_by_email.get(entry.email)
            if account is None:
                raise _OAuthError(400, "invalid_grant", "Bad Request")
            refresh = emu.refresh_token_for_client_locked(account, client_id)
            access, _ = emu.grant_locked(account, rotate=False)
        body = self._token_body(account, client_id, access)
        body["refresh_token"] = refresh
        return body

    def _token_body(self, account: EmulatorAccount, client_id: str, access: str) -> dict[str, object]:
        return {
            "access_token": access,
            "expires_in": account.access_token_ttl,
            "scope": SCOPE,
            "token_type": "Bearer",
            "id_token": self.emu.id_token(account, client_id),
        }

    # -- GET /oauth2/v2/userinfo ---------------------------------------------------------------

    async def userinfo(self, request: web.Request) -> web.StreamResponse:
        call = Call(self.emu, request, "oauth", "userinfo")
        account = self.emu.account_for_token(bearer_token(request))
        call.account_email = account.email if account else None
        dropped = await call.pre_faults()
        if dropped is not None:
            return dropped
        if account is None:
            headers = {
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            }
            return call.respond(401, status_body(401, UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED"), headers)
        fault = call.post_fault()
        if fault is not None:
            return call.fault_response(fault)
        name = account.display_name
        return call.respond(
            200,
            {
                "id": account.user_id,
                "email": account.email,
                "verified_email": True,
                "name": name,
                "given_name": name.split(" ", 1)[0],
                "picture": f"https://lh3.googleusercontent.com/a/emulator-{account.user_id}=s96-c",
            },
        )

    # -- GET /o/oauth2/v2/auth -----------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        call = Call(self.emu, request, "oauth", "auth", body=None)
        dropped = await call.pre_faults()
        if dropped is not None:
            return dropped
        client_id = query.get("client_id", "")
        with self.emu.lock:
            known_client = client_id in self.emu.clients
        if not known_client:
            return call.respond(
                401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
            )
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri:
            return call.respond(
                400,
                {"error": "invalid_request", "error_description": "Missing required parameter: redirect_uri"},
            )
        if query.get("response_type", "code") != "code":
            return call.respond(
                400, {"error": "unsupported_response_type", "error_description": "Invalid response_type"}
            )
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method", "plain" if challenge else "")
        if challenge and method not in ("plain", "S256"):
            return call.respond(
                400, {"error": "invalid_request", "error_description": "Invalid code_challenge_method"}
            )
        fault = call.post_fault()
        if fault is not None:
            return call.fault_response(fault)
        state = query.get("state")
        hint = query.get("login_hint")
        with self.emu.lock:
            if hint:
                account = self.emu.accounts_by_email.get(hint)
            else:
                account = next(iter(self.emu.accounts_by_email.values()), None)
            params: dict[str, str] = {}
            if state is not None:
                params["state"] = state
            if account is None:
                params["error"] = "access_denied"
            else:
                code = "4/0A" + secrets.token_urlsafe(40)
                self.emu.auth_codes[code] = AuthCode(
                    email=account.email,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    code_challenge=challenge,
                    code_challenge_method=method or "plain",
                    expires_at=time.time() + _CODE_TTL,
                )
                params["code"] = code
                params["scope"] = query.get("scope", SCOPE)
        call.account_email = account.email if account else None
        sep = "&" if "?" in redirect_uri else "?"
        call.record(302)
        raise web.HTTPFound(redirect_uri + sep + urlencode(params))


def _challenge(verifier: str, method: str) -> str:
    if method == "S256":
        return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier
