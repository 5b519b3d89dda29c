"""OAuth client profiles: which application's OAuth client an account uses, and what goes with it.

A refresh token refreshes only with the OAuth client that issued it, and Google expects the requests
made with that client's tokens to look like that application's. A :class:`Profile` carries the client
(id and secret) together with its scopes, its default v1internal endpoints (in fallback order), its
upstream ``User-Agent`` and its ``loadCodeAssist`` metadata.

Two profiles are built in, each the installed-app client its application publishes (Google's
documentation treats an installed app's client secret as not confidential):

- ``antigravity`` (the default): Google's Antigravity, as the Antigravity Tools app ships it;
- ``gemini-cli``: Google's gemini-cli (Apache-2.0).

Custom clients (``oauth_client_id`` / ``oauth_clients``) are profiles of their own, named by their
label (the ``oauth_client_id`` one is ``primary``), with Antigravity's request details.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from antigravity_gateway.errors import ClientTooOld, InvalidRequest
from antigravity_gateway.settings import (
    DEFAULT_UPSTREAM_ENDPOINTS,
    OAuthClient,
    Settings,
)
from antigravity_gateway.upstream.client import Route

__all__ = [
    "ANTIGRAVITY",
    "BUILTIN_PROFILES",
    "DEFAULT_PROFILE",
    "GEMINI_CLI",
    "Profile",
    "Profiles",
    "client_too_old",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """An OAuth client and the request details that go with it.

    ``user_agent`` may contain ``{model}`` (gemini-cli names the model in its User-Agent). ``envelope``
    is the form of the v1internal request (:func:`antigravity_gateway.upstream.envelope.wrap`).
    ``builtin`` is False for the user's own clients.
    """

    name: str
    client: OAuthClient
    scopes: tuple[str, ...]
    endpoints: tuple[str, ...]
    user_agent: str
    ide_type: str
    envelope: str = "antigravity"
    builtin: bool = True

    @property
    def client_id(self) -> str:
        return self.client.id


# Antigravity. Client id, secret and scopes: lbjlaq/Antigravity-Manager, src-tauri/src/modules/oauth.rs
# (CLIENT_ID, CLIENT_SECRET, the scopes of the auth URL; commit 9b3dd14f). Endpoints in Antigravity's
# order: the same app, src-tauri/src/proxy/upstream/client.rs. User-Agent: the form and fallback version
# router-for-me/CLIProxyAPI uses (shared/reference/v1internal-and-peers.md §B.4); ideType ANTIGRAVITY:
# Antigravity-Manager src-tauri/src/proxy/project_resolver.rs.
ANTIGRAVITY: Final = Profile(
    name="antigravity",
    client=OAuthClient(
        id="1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
        secret="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",
        label="antigravity",
    ),
    scopes=(
        "openid",
        "https://www.googleapis.com/auth/cloud-platform",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        "https://www.googleapis.com/auth/cclog",
        "https://www.googleapis.com/auth/experimentsandconfigs",
    ),
    endpoints=tuple(DEFAULT_UPSTREAM_ENDPOINTS),
    user_agent="antigravity/2.9.1 linux/amd64",
    ide_type="ANTIGRAVITY",
)

# gemini-cli. Client id, secret and scopes: google-gemini/gemini-cli,
# packages/core/src/code_assist/oauth2.ts (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_SCOPE; commit
# 5411f113). Endpoint: packages/core/src/code_assist/server.ts (CODE_ASSIST_ENDPOINT + "v1internal").
# User-Agent: packages/core/src/core/contentGenerator.ts ("GeminiCLI/<version>/<model> (<platform>;
# <arch>; terminal)"), version of the latest release tag v0.56.0. ideType: code_assist/setup.ts.
# Envelope (user_prompt_id, request.session_id, no Antigravity fields): code_assist/converter.ts.
GEMINI_CLI: Final = Profile(
    name="gemini-cli",
    client=OAuthClient(
        id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
        secret="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",
        label="gemini-cli",
    ),
    scopes=(
        "https://www.googleapis.com/auth/cloud-platform",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ),
    endpoints=("https://cloudcode-pa.googleapis.com/v1internal",),
    user_agent="GeminiCLI/0.56.0/{model} (linux; x64; terminal)",
    ide_type="IDE_UNSPECIFIED",
    envelope="gemini-cli",
)

BUILTIN_PROFILES: Final = (ANTIGRAVITY, GEMINI_CLI)
DEFAULT_PROFILE: Final = ANTIGRAVITY.name
PRIMARY: Final = "primary"


def _custom(client: OAuthClient) -> Profile:
    return Profile(
        name=client.label or client.id,
        client=client,
        scopes=ANTIGRAVITY.scopes,
        endpoints=ANTIGRAVITY.endpoints,
        user_agent=ANTIGRAVITY.user_agent,
        ide_type=ANTIGRAVITY.ide_type,
        envelope=ANTIGRAVITY.envelope,
        builtin=False,
    )


class Profiles:
    """The profiles of one configuration: the built-in ones and the user's own clients.

    Order (what a refresh without a known client tries): the default profile (``oauth_profile``; else
    the ``oauth_client_id`` client when one is set; else ``antigravity``), then the custom clients as
    configured, then the built-in profiles.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        builtin = {p.client_id: p for p in BUILTIN_PROFILES}
        custom: list[Profile] = []
        for client in settings.all_oauth_clients:
            if client.id in builtin:  # a built-in client configured by hand: its secret, the built-in profile
                known = builtin[client.id]
                if client.secret and client.secret != known.client.secret:
                    builtin[client.id] = replace(
                        known, client=OAuthClient(id=client.id, secret=client.secret)
                    )
            elif all(p.client_id != client.id for p in custom):
                custom.append(_custom(client))
        self.builtin = list(builtin.values())
        self.custom = custom
        default = self.find(settings.oauth_profile) if settings.oauth_profile else None
        if default is None:
            default = next((p for p in custom if p.client.label == PRIMARY), self.builtin[0])
        self.default = default
        rest = [p for p in (*custom, *self.builtin) if p is not default]
        self.all: list[Profile] = [default, *rest]
        self._routes: dict[tuple[str, str], Route] = {}

    def find(self, name: str) -> Profile | None:
        """The profile named ``name`` (a built-in name, a custom client's label, or a client id)."""
        for profile in (*self.builtin, *self.custom):
            if name in (profile.name, profile.client_id):
                return profile
        return None

    def get(self, name: str) -> Profile:
        """Like :meth:`find`, raising a 400 that lists the known names."""
        profile = self.find(name)
        if profile is None:
            known = ", ".join(p.name for p in self.all)
            raise InvalidRequest(f"unknown OAuth client {name!r}: use one of {known}", param="client")
        return profile

    def for_client_id(self, client_id: str) -> Profile | None:
        """The profile of an account (accounts remember the id of the client that issued their token)."""
        return next((p for p in self.all if p.client_id == client_id), None) if client_id else None

    def name_of(self, client_id: str) -> str:
        """What ``agw accounts list`` shows: the profile's name, the bare id of a client no longer
        configured, or ``-`` when unknown."""
        if not client_id:
            return "-"
        profile = self.for_client_id(client_id)
        return profile.name if profile is not None else client_id

    def ordered(self, first: Profile | str | None = None) -> list[Profile]:
        """Every profile, ``first`` (a profile, or a client id) first, then :attr:`all` in order."""
        if isinstance(first, str):
            first = self.for_client_id(first)
        if first is None:
            return list(self.all)
        return [first, *(p for p in self.all if p.client_id != first.client_id)]

    # -- request details --------------------------------------------------------------------------

    def user_agent(self, profile: Profile, model: str = "") -> str:
        """``upstream_user_agent`` when it is set, else the profile's own (``{model}`` filled in)."""
        if "upstream_user_agent" in self.settings.model_fields_set:
            return self.settings.upstream_user_agent
        return profile.user_agent.replace("{model}", model or "gemini-2.5-pro")

    def endpoints(self, profile: Profile) -> list[str]:
        """``upstream_endpoints`` when it is set, else the profile's own."""
        if "upstream_endpoints" in self.settings.model_fields_set:
            return list(self.settings.upstream_endpoints)
        return list(profile.endpoints)

    def route(self, profile: Profile, model: str = "") -> Route:
        """Where and as whom the calls of an account of ``profile`` go (kept: it is on the hot path)."""
        key = (profile.client_id, model)
        route = self._routes.get(key)
        if route is None:
            if len(self._routes) > 1024:
                self._routes.clear()
            route = self._routes[key] = Route(tuple(self.endpoints(profile)), self.user_agent(profile, model))
        return route


def settings_key(settings: Settings) -> tuple[object, ...]:
    """What :class:`Profiles` depends on (live settings may change it): a cache key."""
    fields_set = settings.model_fields_set
    return (
        settings.oauth_client_id,
        settings.oauth_client_secret,
        tuple((c.id, c.secret, c.label) for c in settings.oauth_clients),
        settings.oauth_profile,
        settings.upstream_user_agent if "upstream_user_agent" in fields_set else None,
        tuple(settings.upstream_endpoints) if "upstream_endpoints" in fields_set else None,
    )


def client_too_old(profile: Profile, user_agent: str, said: str) -> ClientTooOld:
    """The error for "this client is too old": what Google said, and the setting that fixes it."""
    example = "antigravity/<current version> linux/amd64" if profile.ide_type == "ANTIGRAVITY" else None
    return ClientTooOld(
        f"Google refused the request as coming from an outdated client: {said!r}. The gateway sent the "
        f"User-Agent {user_agent!r} (OAuth client profile {profile.name!r}). Set upstream_user_agent "
        "(AGW_UPSTREAM_USER_AGENT, or upstream_user_agent in config.toml) to the User-Agent of the "
        "application's current release"
        + (f", such as {example!r}" if example else "")
        + ". The accounts are not at fault and were not set aside."
    )
