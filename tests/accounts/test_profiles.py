"""OAuth client profiles: the built-in ones, custom clients as profiles, and refresh fallback between them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest

from antigravity_gateway.accounts.login import LoginFlows
from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.accounts.profiles import ANTIGRAVITY, BUILTIN_PROFILES, GEMINI_CLI, Profile, Profiles
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.errors import InvalidRequest, OAuthError
from antigravity_gateway.settings import BUILTIN_PROFILE_NAMES, OAuthClient, Settings
from antigravity_gateway.store.base import Account
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.client import UpstreamClient
from tests.conftest import CLIENT_ID, GatewayFactory, make_account, make_settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path, **values)  # type: ignore[arg-type]


def test_nothing_configured_means_antigravity_then_gemini_cli(tmp_path: Path) -> None:
    profiles = Profiles(_settings(tmp_path))
    assert profiles.default is ANTIGRAVITY
    assert [p.name for p in profiles.all] == ["antigravity", "gemini-cli"]
    assert ANTIGRAVITY.client_id.startswith("1071006060591-") and GEMINI_CLI.client_id.startswith(
        "681255809395-"
    )
    assert "https://www.googleapis.com/auth/cclog" in ANTIGRAVITY.scopes
    assert "https://www.googleapis.com/auth/cclog" not in GEMINI_CLI.scopes
    assert profiles.get("gemini-cli") is GEMINI_CLI and profiles.get(GEMINI_CLI.client_id) is GEMINI_CLI


def test_custom_clients_are_profiles_of_their_own(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        oauth_client_id="mine",
        oauth_client_secret="s",
        oauth_clients=[
            OAuthClient(id="team", secret="t", label="team"),
            OAuthClient(id=GEMINI_CLI.client_id, secret="newer", label="copied"),  # a built-in, by hand
        ],
    )
    profiles = Profiles(settings)
    # The configured primary client stays the default (existing setups keep logging in with it).
    assert [p.name for p in profiles.all] == ["primary", "team", "antigravity", "gemini-cli"]
    assert profiles.get("team").client.secret == "t" and not profiles.get("team").builtin
    assert profiles.get("antigravity") is ANTIGRAVITY
    by_hand = profiles.get("gemini-cli")  # the built-in profile, with the configured secret
    assert by_hand.client.secret == "newer" and by_hand.envelope == "gemini-cli" and by_hand.builtin
    assert profiles.find("copied") is None
    assert profiles.name_of("team") == "team" and profiles.name_of("gone") == "gone"
    assert profiles.name_of("") == "-"
    assert [p.name for p in profiles.ordered("team")] == ["team", "primary", "antigravity", "gemini-cli"]
    with pytest.raises(InvalidRequest, match="primary, team, antigravity, gemini-cli"):
        profiles.get("nope")


def test_oauth_profile_chooses_the_default(tmp_path: Path) -> None:
    settings = _settings(tmp_path, oauth_client_id="mine", oauth_profile="gemini-cli")
    assert [p.name for p in Profiles(settings).all] == ["gemini-cli", "primary", "antigravity"]
    team = [OAuthClient(id="team-id", secret="t", label="team")]
    assert (
        Profiles(_settings(tmp_path, oauth_clients=team, oauth_profile="team")).default.client_id == "team-id"
    )
    with pytest.raises(ValueError, match="unknown OAuth client profile 'nope'"):
        _settings(tmp_path, oauth_profile="nope")
    with pytest.raises(ValueError, match="unknown OAuth client profile 'primary'"):
        _settings(tmp_path, oauth_profile="primary")  # no oauth_client_id set
    assert tuple(p.name for p in BUILTIN_PROFILES) == BUILTIN_PROFILE_NAMES


def test_request_details_come_from_the_profile_unless_set(tmp_path: Path) -> None:
    profiles = Profiles(_settings(tmp_path))
    assert profiles.user_agent(ANTIGRAVITY) == "antigravity/2.9.1 linux/amd64"
    assert profiles.user_agent(GEMINI_CLI, "gemini-2.5-flash").startswith(
        "GeminiCLI/0.56.0/gemini-2.5-flash ("
    )
    assert profiles.endpoints(GEMINI_CLI) == ["https://cloudcode-pa.googleapis.com/v1internal"]
    assert len(profiles.endpoints(ANTIGRAVITY)) == 3
    overridden = Profiles(
        _settings(
            tmp_path, upstream_user_agent="antigravity/9.9.9 linux/amd64", upstream_endpoints="http://x/v1"
        )
    )
    assert overridden.user_agent(GEMINI_CLI) == "antigravity/9.9.9 linux/amd64"
    assert overridden.endpoints(GEMINI_CLI) == ["http://x/v1"]


# -- refresh fallback against the emulator -----------------------------------------------------------


async def _pool_add(settings: Settings, token: str, client: str = "") -> Account:
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        return await pool.add(token, client=client)


async def _force_refresh(settings: Settings) -> Account:
    async with SQLiteStore(settings.db_path) as store, UpstreamClient(settings) as http:
        pool = AccountPool(settings, store, http)
        await pool.load()
        (account,) = pool.accounts.values()
        await pool.access_token(account, stale=account.access_token)
        return account


def _tried(emulator: Emulator) -> list[str]:
    return [r.body["client_id"] for r in emulator.requests if r.method == "token"]


def test_a_token_finds_its_profile_and_the_account_remembers_it(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("gina@example.com", client_id=GEMINI_CLI.client_id))
    settings = make_settings(tmp_path, emulator_server, oauth_client_id="", oauth_client_secret="")
    account = asyncio.run(_pool_add(settings, "1//gina"))
    assert account.oauth_client_id == GEMINI_CLI.client_id
    assert _tried(emulator) == [ANTIGRAVITY.client_id, GEMINI_CLI.client_id]  # unauthorized_client, then ok

    emulator.clear_requests()
    asyncio.run(_force_refresh(settings))
    assert _tried(emulator) == [GEMINI_CLI.client_id]  # its own profile first


def test_a_refresh_refused_by_the_remembered_client_tries_the_others(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("hal@example.com"))  # issued by the test's custom client
    settings = make_settings(tmp_path, emulator_server)
    asyncio.run(_pool_add(settings, "1//hal", client="gemini-cli"))
    assert _tried(emulator) == [GEMINI_CLI.client_id, CLIENT_ID]  # --client first, then the others

    async def remember_the_wrong_client() -> None:
        async with SQLiteStore(settings.db_path) as store:
            (stored,) = await store.list_accounts()
            stored.oauth_client_id = ANTIGRAVITY.client_id
            await store.save_account(stored)

    asyncio.run(remember_the_wrong_client())
    emulator.clear_requests()
    account = asyncio.run(_force_refresh(settings))
    assert _tried(emulator) == [ANTIGRAVITY.client_id, CLIENT_ID]
    assert account.oauth_client_id == CLIENT_ID and account.status == "enabled"


def test_a_token_no_profile_accepts_fails_clearly(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_client("elsewhere", "secret")
    emulator.add_account(make_account("ida@example.com", client_id="elsewhere"))
    settings = make_settings(tmp_path, emulator_server)
    with pytest.raises(OAuthError, match="AGW_OAUTH_CLIENT_ID") as caught:
        asyncio.run(_pool_add(settings, "1//ida"))
    assert "primary: unauthorized_client" in caught.value.message
    assert "gemini-cli: unauthorized_client" in caught.value.message
    assert "1//ida" not in caught.value.message and "GOCSPX" not in caught.value.message
    with pytest.raises(InvalidRequest, match="unknown OAuth client"):
        asyncio.run(_pool_add(settings, "1//ida", client="nope"))


# -- request details per profile ---------------------------------------------------------------------


def test_each_account_calls_upstream_as_its_profile(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        [
            make_account("ann@example.com", client_id=ANTIGRAVITY.client_id),
            make_account("gus@example.com", client_id=GEMINI_CLI.client_id, onboarded=False),
        ]
    )
    assert {a.email: a.oauth_client_id for a in gateway.accounts} == {
        "ann@example.com": ANTIGRAVITY.client_id,
        "gus@example.com": GEMINI_CLI.client_id,
    }
    http = gateway.http()
    for n in range(8):  # new conversations spread over both accounts (balance, least recently used)
        reply = http.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": f"hi {n}"}]}]},
        )
        assert reply.status_code == 200, reply.text
        if len({r.account_email for r in gateway.emulator.requests if r.method == "generateContent"}) == 2:
            break
    agents = {
        r.account_email: r.headers["user-agent"]
        for r in gateway.emulator.requests
        if r.method == "generateContent"
    }
    assert agents["ann@example.com"] == "antigravity/2.9.1 linux/amd64"
    assert agents["gus@example.com"] == "GeminiCLI/0.56.0/gemini-2.5-flash (linux; x64; terminal)"
    bodies = {r.account_email: r.body for r in gateway.emulator.requests if r.method == "generateContent"}
    assert bodies["ann@example.com"]["userAgent"] == "antigravity"
    assert bodies["ann@example.com"]["request"]["sessionId"]
    gus = bodies["gus@example.com"]
    assert "userAgent" not in gus and "requestType" not in gus and "requestId" not in gus
    assert (
        gus["request"]["session_id"] and gus["user_prompt_id"] == gus["request"]["session_id"] + "########1"
    )

    stream = http.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert stream.status_code == 200 and "data: " in stream.text


def test_setup_sends_the_profiles_ide_type_and_user_agent(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_account(make_account("gus@example.com", client_id=GEMINI_CLI.client_id, onboarded=False))
    emulator.add_account(make_account("ann@example.com", client_id=ANTIGRAVITY.client_id))
    settings = make_settings(tmp_path, emulator_server)
    asyncio.run(_pool_add(settings, "1//gus"))
    asyncio.run(_pool_add(settings, "1//ann"))
    calls = [r for r in emulator.requests if r.endpoint != "oauth" and r.method != "operation"]
    seen = {
        (r.account_email, r.method): (r.body["metadata"]["ideType"], r.headers["user-agent"]) for r in calls
    }
    assert seen[("gus@example.com", "loadCodeAssist")][0] == "IDE_UNSPECIFIED"
    assert seen[("gus@example.com", "onboardUser")][1].startswith("GeminiCLI/0.56.0/")
    assert seen[("ann@example.com", "loadCodeAssist")] == ("ANTIGRAVITY", "antigravity/2.9.1 linux/amd64")


# -- the dashboard's Google login, nothing configured ---------------------------------------------------


@pytest.mark.parametrize(("client", "profile"), [(None, ANTIGRAVITY), ("gemini-cli", GEMINI_CLI)])
def test_dashboard_login_with_nothing_configured(
    gateway_factory: GatewayFactory, client: str | None, profile: Profile
) -> None:
    gateway = gateway_factory([], oauth_client_id="", oauth_client_secret="")
    gateway.emulator.add_account(make_account("kim@example.com", client_id=ANTIGRAVITY.client_id))
    http = gateway.http()
    assert http.get("/api/oauth/clients").json() == {
        "default": "antigravity",
        "clients": [{"name": "antigravity", "builtin": True}, {"name": "gemini-cli", "builtin": True}],
    }
    body = {"login_hint": "kim@example.com"} | ({"client": client} if client else {})
    started = http.post("/api/oauth/start", json=body)
    assert started.status_code == 200, started.text
    query = parse_qs(urlparse(started.json()["url"]).query)
    assert query["client_id"] == [profile.client_id] and query["scope"] == [" ".join(profile.scopes)]
    consent = httpx.get(started.json()["url"], follow_redirects=False)  # the emulator consents at once
    back = http.get(consent.headers["location"], follow_redirects=False)
    assert back.status_code == 303, back.text
    (view,) = http.get("/api/accounts").json()
    assert view["email"] == "kim@example.com" and view["client"] == profile.name
    assert {r.body["client_id"] for r in gateway.emulator.requests if r.method == "token"} == {
        profile.client_id
    }
    unknown = http.post("/api/oauth/start", json={"client": "nope"})
    assert unknown.status_code == 400 and "antigravity, gemini-cli" in unknown.text


def test_the_default_login_link_is_googles_with_the_antigravity_client(tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # nothing configured at all

    async def link() -> str:
        async with UpstreamClient(settings) as http, SQLiteStore(settings.db_path) as store:
            flow = await LoginFlows(OAuth(settings, http), store).start("http://127.0.0.1:1/oauth2callback")
            return flow.url

    url = asyncio.run(link())
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    query = parse_qs(urlparse(url).query)
    assert query["client_id"] == [ANTIGRAVITY.client_id] and query["code_challenge_method"] == ["S256"]
    assert query["scope"][0].split() == list(ANTIGRAVITY.scopes)
