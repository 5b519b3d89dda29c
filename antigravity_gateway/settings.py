"""Typed settings: defaults < ``<AGW_HOME>/config.toml`` < ``AGW_*`` environment < CLI flags.

Every field is documented in ``docs/configuration.md``; a test checks that the two agree.
Build one with :func:`load_settings`; nothing here is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

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
    allow_lan: bool = False
    api_key: str = ""
    auth_mode: AuthMode = "auto"

    upstream_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_UPSTREAM_ENDPOINTS)
    )
    upstream_user_agent: str = "antigravity/2.9.1 linux/amd64"
    upstream_connect_timeout: float = Field(default=20.0, gt=0)
    upstream_read_timeout: float = Field(default=300.0, gt=0)

    oauth_auth_url: str = DEFAULT_AUTH_URL
    oauth_token_url: str = DEFAULT_TOKEN_URL
    oauth_userinfo_url: str = DEFAULT_USERINFO_URL
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    oauth_clients: list[OAuthClient] = Field(default_factory=list)

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
    request_log_days: float = Field(default=30.0, gt=0)
    request_log_max_rows: int = Field(default=200_000, ge=100)
    debug_capture: bool = False
    log_level: str = "INFO"

    @field_validator("upstream_endpoints", mode="before")
    @classmethod
    def _endpoints(cls, value: Any) -> Any:
        value = _split_csv(value)
        if isinstance(value, list):
            value = [str(v).rstrip("/") for v in value]
            if not value:
                raise ValueError("at least one upstream endpoint is required")
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
    def effective_auth_mode(self) -> Literal["off", "strict", "all_except_health"]:
        if self.auth_mode == "auto":
            return "all_except_health" if self.allow_lan else "off"
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


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the TOML file, the environment and explicit overrides (``None`` values ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
