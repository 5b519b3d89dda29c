"""The emulated OAuth endpoints: refresh grants, errors, rotation, userinfo, auth code + PKCE."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from urllib.parse import parse_qs, urlparse

from antigravity_gateway.accounts.profiles import ANTIGRAVITY, GEMINI_CLI
from antigravity_gateway.emulator import Emulator, EmulatorServer
from tests.emulator.conftest import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, Api, account

SCOPE = (
    "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
    "https://www.googleapis.com/auth/userinfo.profile openid"
)


async def test_refresh_success(api: Api, emu: Emulator) -> None:
    emu.add_account(account(access_token_ttl=1234))
    reply = await api.refresh()
    assert reply.status == 200
    body = reply.json
    assert body["access_token"].startswith("ya29.")
    assert body["expires_in"] == 1234
    assert body["scope"] == SCOPE
    assert body["token_type"] == "Bearer"
    assert body["id_token"]
    assert "refresh_token" not in body
    (rec,) = emu.requests
    assert (rec.endpoint, rec.method, rec.status, rec.account_email) == ("oauth", "token", 200, ALICE)
    assert rec.body["grant_type"] == "refresh_token"


async def test_missing_grant_type_and_non_form_body(api: Api, emu: Emulator, server: EmulatorServer) -> None:
    reply = await api.token(client_id=CLIENT_ID)
    assert reply.status == 400
    assert reply.json == {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
    async with api.http.post(server.token_url, json={"grant_type": "refresh_token"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "unsupported_grant_type"


async def test_client_errors(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    emu.add_client("other-client", "other-secret")
    unknown = await api.refresh(client_id="nobody")
    assert unknown.status == 401
    assert unknown.json == {"error": "invalid_client", "error_description": "The OAuth client was not found."}
    wrong_secret = await api.refresh(client_secret="nope")
    assert wrong_secret.status == 401
    assert wrong_secret.json == {"error": "invalid_client", "error_description": "Unauthorized"}
    other = await api.refresh(client_id="other-client", client_secret="other-secret")
    assert other.status == 400
    assert other.json == {"error": "unauthorized_client", "error_description": "Unauthorized"}


async def test_invalid_grant_for_unknown_and_revoked_tokens(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    expected = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    unknown = await api.refresh("1//nobody")
    assert (unknown.status, unknown.json) == (400, expected)
    assert (await api.refresh()).status == 200
    emu.revoke("1//alice")
    revoked = await api.refresh()
    assert (revoked.status, revoked.json) == (400, expected)


async def test_rotation_invalidates_the_old_refresh_token(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account(rotate_refresh_token=True))
    first = await api.refresh()
    assert first.status == 200
    new_token = first.json["refresh_token"]
    assert new_token != "1//alice" and acct.refresh_token == new_token
    assert (await api.refresh()).json["error"] == "invalid_grant"
    second = await api.refresh(new_token)
    assert second.status == 200 and second.json["refresh_token"] != new_token


async def test_userinfo_and_401(api: Api, emu: Emulator, server: EmulatorServer) -> None:
    emu.add_account(account())
    token = await api.access_token()
    reply = await api.get("/oauth2/v2/userinfo", token)
    assert reply.status == 200
    info = reply.json
    assert set(info) == {"id", "email", "verified_email", "name", "given_name", "picture"}
    assert info["email"] == ALICE and info["verified_email"] is True and info["given_name"] == "Alice"
    bad = await api.get("/oauth2/v2/userinfo", "ya29.bogus")
    assert bad.status == 401 and bad.json["error"]["status"] == "UNAUTHENTICATED"
    assert server.userinfo_url == server.url + "/oauth2/v2/userinfo"


async def test_access_tokens_expire_by_ttl_and_on_demand(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    emu.add_account(account(BOB))
    short = emu.issue_access_token(ALICE, ttl=0.05)
    alice = await api.access_token()
    bob = await api.access_token("1//bob")
    await asyncio.sleep(0.1)
    assert (await api.get("/oauth2/v2/userinfo", short)).status == 401
    assert (await api.get("/oauth2/v2/userinfo", alice)).status == 200
    emu.expire_access_tokens(ALICE)
    assert (await api.get("/oauth2/v2/userinfo", alice)).status == 401
    assert (await api.get("/oauth2/v2/userinfo", bob)).status == 200
    emu.expire_access_tokens()
    assert (await api.get("/oauth2/v2/userinfo", bob)).status == 401


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def _authorize(api: Api, server: EmulatorServer, **params: str) -> dict[str, list[str]]:
    async with api.http.get(server.auth_url, params=params, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(params["redirect_uri"])
    return parse_qs(urlparse(location).query)


async def test_authorization_code_with_pkce(api: Api, emu: Emulator, server: EmulatorServer) -> None:
    emu.add_account(account())
    emu.add_account(account(BOB))
    verifier = "v" * 64
    redirect = "http://127.0.0.1:5555/oauth2callback"
    query = await _authorize(
        api,
        server,
        client_id=CLIENT_ID,
        redirect_uri=redirect,
        response_type="code",
        scope=SCOPE,
        state="xyz",
        login_hint=BOB,
        code_challenge=_s256(verifier),
        code_challenge_method="S256",
    )
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    base = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    wrong_redirect = await api.token(
        **base, code=code, redirect_uri="http://elsewhere/", code_verifier=verifier
    )
    assert wrong_redirect.json["error"] == "redirect_uri_mismatch"
    wrong_verifier = await api.token(**base, code=code, redirect_uri=redirect, code_verifier="w" * 64)
    assert wrong_verifier.status == 400 and wrong_verifier.json["error"] == "invalid_grant"
    ok = await api.token(**base, code=code, redirect_uri=redirect, code_verifier=verifier)
    assert ok.status == 200, ok.raw
    assert ok.json["refresh_token"] == "1//bob"
    info = await api.get("/oauth2/v2/userinfo", ok.json["access_token"])
    assert info.json["email"] == BOB
    reused = await api.token(**base, code=code, redirect_uri=redirect, code_verifier=verifier)
    assert reused.status == 400 and reused.json["error"] == "invalid_grant"


async def test_authorization_defaults_to_first_account_and_checks_client(
    api: Api, emu: Emulator, server: EmulatorServer
) -> None:
    emu.add_account(account())
    query = await _authorize(api, server, client_id=CLIENT_ID, redirect_uri="http://localhost/cb?x=1")
    code = query["code"][0]
    reply = await api.token(
        grant_type="authorization_code",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri="http://localhost/cb?x=1",
    )
    assert reply.status == 200 and reply.json["refresh_token"] == "1//alice"
    denied = await _authorize(
        api, server, client_id=CLIENT_ID, redirect_uri="http://localhost/cb", login_hint="x@y"
    )
    assert denied["error"] == ["access_denied"]
    async with api.http.get(
        server.auth_url, params={"client_id": "nope", "redirect_uri": "http://x/"}
    ) as resp:
        assert resp.status == 401


async def test_published_clients_are_known_and_refuse_each_others_tokens(api: Api, emu: Emulator) -> None:
    emu.reset()  # no test client: only what Google knows by itself
    emu.add_account(account(client_id=GEMINI_CLI.client_id))
    own = await api.refresh(client_id=GEMINI_CLI.client_id, client_secret=GEMINI_CLI.client.secret)
    assert own.status == 200
    other = await api.refresh(client_id=ANTIGRAVITY.client_id, client_secret=ANTIGRAVITY.client.secret)
    assert other.status == 400 and other.json["error"] == "unauthorized_client"
