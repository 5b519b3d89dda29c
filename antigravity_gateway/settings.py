"""Typed settings: defaults < ``<AGW_HOME>/config.toml`` < ``AGW_*`` environment < CLI flags.

Every field is documented in ``docs/configuration.md``; a test checks that the two agree.
Build one with :func:`load_settings`; nothing here is read at import time.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from antigravity_gateway.upstream.proxies import check_url, redact

AuthMode = Literal["off", "strict", "all_except_health", "auto"]
SchedulingMode = Literal["balance", "cache-first", "performance", "fixed"]

#: Google's v1internal hosts, in the fallback order Antigravity uses (sandbox-daily, daily, prod).
DEFAULT_UPSTREAM_ENDPOINTS = [
    "https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal",
    "https://daily-cloudcode-pa.googleapis.com/v1internal",
    "https://cloudcode-pa.googleapis.com/v1internal",
]
DEFAULT_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_USERINFO_URL = "https://www.googleapis.com/oauth2/v2/userinfo"
#: The built-in OAuth client profiles (``accounts/profiles.py``), for checking ``oauth_profile``.
BUILTIN_PROFILE_NAMES = ("antigravity", "gemini-cli")


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask, as ``os.process_cpu_count()`` of Python 3.13
    tells), else the machine's."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def resolve_workers(value: Any) -> int:
    """``workers`` as given (a number, its text, or ``auto`` for one per core) as a number of processes."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return cpu_count()
        value = int(text) if text.isdigit() else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a number of workers: use a whole number of at least 1, or auto")
    return value


def default_home() -> Path:
    return Path(os.environ.get("AGW_HOME") or Path.home() / ".antigravity-gateway").expanduser()


class OAuthClient(BaseModel):
    """An installed-app OAuth client. A refresh token refreshes only with the client that issued it."""

    id: str
    secret: str = ""
    label: str = ""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """All settings of the gateway. Environment variables are the field names upper-cased with ``AGW_``."""

    model_config = SettingsConfigDict(env_prefix="AGW_", extra="ignore", validate_default=True)

    home: Path = Field(default_factory=default_home)
    host: str = "127.0.0.1"
    port: int = Field(default=8045, ge=0, le=65535)
    workers: int = 1
    allow_lan: bool = False
    api_key: str = ""
    auth_mode: AuthMode = "auto"

    upstream_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_UPSTREAM_ENDPOINTS)
    )
    upstream_user_agent: str = "antigravity/2.9.1 linux/amd64"
    upstream_connect_timeout: float = Field(default=20.0, gt=0)
    upstream_read_timeout: float = Field(default=300.0, gt=0)
    upstream_proxy: str = ""
    upstream_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    proxy_check_interval: float = Field(default=60.0, ge=1)
    max_stream_event_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    oauth_auth_url: str = DEFAULT_AUTH_URL
    oauth_token_url: str = DEFAULT_TOKEN_URL
    oauth_userinfo_url: str = DEFAULT_USERINFO_URL
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    oauth_clients: list[OAuthClient] = Field(default_factory=list)
    oauth_profile: str = ""

    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_max_wait: float = Field(default=5.0, ge=0)
    token_refresh_skew: float = Field(default=300.0, ge=0)
    onboard_poll_interval: float = Field(default=5.0, ge=0)
    models_refresh_interval: float = Field(default=600.0, ge=10)
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_large_bodies: int = Field(default=4, ge=1)
    request_timeout: float = Field(default=900.0, gt=0)
    attempt_timeout: float = Field(default=600.0, gt=0)
    header_read_timeout: float = Field(default=10.0, gt=0)
    body_read_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    model_mapping: dict[str, str] = Field(default_factory=dict)

    scheduling_mode: SchedulingMode = "balance"
    fixed_account: str = ""
    cache_first_max_wait: float = Field(default=60.0, ge=0)
    quota_protection: float = Field(default=0.0, ge=0, le=100)

    admin_password: str = ""
    metrics_token: SecretStr = SecretStr("")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ip_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ip_deny: Annotated[list[str], NoDecode] = Field(default_factory=list)
    request_log_days: float = Field(default=30.0, gt=0)
    request_log_max_rows: int = Field(default=200_000, ge=100)
    debug_capture: bool = False
    secret_key: SecretStr = SecretStr("")
    redis_url: str = ""
    redis_prefix: str = Field(default="agw:", min_length=1, max_length=100)
    log_level: str = "INFO"

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> int:
        return resolve_workers(value)

    @field_validator("upstream_endpoints", mode="before")
    @classmethod
    def _endpoints(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            value = [str(v).rstrip("/") for v in value]
            if not value:
                raise ValueError("at least one upstream endpoint is required")
        return value

    @field_validator("upstream_proxy")
    @classmethod
    def _proxy(cls, value: str) -> str:
        return check_url(value) if value.strip() else ""

    @field_validator("upstream_proxies", mode="before")
    @classmethod
    def _proxy_pool(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            value = [check_url(str(v)) for v in value]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"{redact(value)!r} is not a Redis URL: write redis://[:password@]host:6379/0, rediss://... "
                "(TLS) or unix:///path/to/redis.sock"
            )
        return value

    @field_validator("oauth_profile")
    @classmethod
    def _profile(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            return value
        clients: list[OAuthClient] = info.data.get("oauth_clients") or []
        known = [*BUILTIN_PROFILE_NAMES, *(c.label or c.id for c in clients)]
        if info.data.get("oauth_client_id"):
            known.append("primary")
        if value not in known and all(value != c.id for c in clients):
            raise ValueError(f"unknown OAuth client profile {value!r}: use one of {', '.join(known)}")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            value = [str(v).strip().lower().rstrip(".") for v in value]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            value = [str(v).strip().rstrip("/").lower() for v in value]
            for origin in value:
                if origin != "*" and not origin.startswith(("http://", "https://")) and origin != "null":
                    raise ValueError(
                        f"{origin!r} is not an origin: write scheme://host[:port], such as "
                        "http://localhost:3000 (or * for any origin)"
                    )
        return value

    @field_validator("trusted_proxies", "ip_allow", "ip_deny", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            for network in value:
                try:
                    ipaddress.ip_network(str(network), strict=False)
                except ValueError:
                    raise ValueError(f"{network!r} is not an IP address or CIDR network") from None
            value = [str(v) for v in value]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home = Path(os.environ.get("AGW_HOME") or default_home()).expanduser()
        toml = TomlConfigSettingsSource(settings_cls, toml_file=home / "config.toml")
        return (init_settings, env_settings, toml)

    # -- derived values ---------------------------------------------------------------------------

    @property
    def bind_host(self) -> str:
        """``0.0.0.0`` when LAN access is on, else the configured host."""
        return "0.0.0.0" if self.allow_lan else self.host

    @property
    def exposed(self) -> bool:
        """Whether the bound address is reachable from other machines (LAN access on, or a host that is
        not a loopback address). An exposed gateway always requires a client key and an admin password."""
        return not is_loopback_name(self.bind_host)

    @property
    def effective_auth_mode(self) -> Literal["off", "strict", "all_except_health"]:
        """``auto`` is ``off`` on a loopback address, else ``all_except_health``; an exposed gateway never
        runs with authentication off (``off`` is raised to ``all_except_health``)."""
        if self.auth_mode == "auto" or self.auth_mode == "off":
            return "all_except_health" if self.exposed else "off"
        return self.auth_mode

    @property
    def all_oauth_clients(self) -> list[OAuthClient]:
        """The primary client (``oauth_client_id``) first, then ``oauth_clients``, without duplicates."""
        clients: list[OAuthClient] = []
        if self.oauth_client_id:
            clients.append(
                OAuthClient(id=self.oauth_client_id, secret=self.oauth_client_secret, label="primary")
            )
        for client in self.oauth_clients:
            if all(c.id != client.id for c in clients):
                clients.append(client)
        return clients

    @property
    def db_path(self) -> Path:
        return self.home / "gateway.db"


@functools.lru_cache(maxsize=256)  # asked several times per request, mostly for the same few names
@functools.lru_cache(maxsize=256)
def is_loopback_name(host: str) -> bool:
    """``localhost``, ``*.localhost``, 127.0.0.0/8 and ``::1`` (with or without brackets). Remembered:
    the auth mode asks it about the bound host on every request (parsing an address costs microseconds)."""
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the TOML file, the environment and explicit overrides (``None`` values ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
