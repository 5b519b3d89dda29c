"""What the gateway keeps: accounts, cooldowns, conversation bindings and model catalogs.

Everything durable goes through the :class:`Store` protocol so that a shared backend (Redis,
PostgreSQL) can replace SQLite without touching the scheduler. The scheduler keeps the hot state in
memory and writes through to the store.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

AccountStatus = Literal["enabled", "disabled", "invalid_grant", "validation_required", "forbidden"]


def new_account_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(slots=True)
class Account:
    """One Google account of the pool. ``refresh_token`` and ``access_token`` are secrets: never log them."""

    email: str
    refresh_token: str = field(repr=False)
    id: str = field(default_factory=new_account_id)
    access_token: str = field(default="", repr=False)
    access_token_expires_at: float = 0.0
    oauth_client_id: str = ""
    project_id: str = ""
    tier_id: str = ""
    tier_name: str = ""
    status: AccountStatus = "enabled"
    status_reason: str = ""
    status_until: float = 0.0
    validation_url: str = ""
    label: str = ""
    priority: int = 0
    created_at: float = field(default_factory=time.time)
    last_used_at: float = 0.0

    @property
    def usable(self) -> bool:
        """Enabled, or blocked only for a while that has passed (validation required)."""
        if self.status == "enabled":
            return True
        return self.status == "validation_required" and 0 < self.status_until <= time.time()

    def public_dict(self) -> dict[str, Any]:
        """A view safe to print or serve: no tokens."""
        return {
            "id": self.id,
            "email": self.email,
            "status": self.status,
            "status_reason": self.status_reason,
            "status_until": self.status_until or None,
            "validation_url": self.validation_url or None,
            "project_id": self.project_id,
            "tier_id": self.tier_id,
            "tier_name": self.tier_name,
            "oauth_client_id": self.oauth_client_id,
            "label": self.label,
            "priority": self.priority,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at or None,
            "access_token_expires_at": self.access_token_expires_at or None,
        }


@dataclass(slots=True, frozen=True)
class Cooldown:
    """An account may not serve ``model`` (``"*"`` = any model) until ``until`` (epoch seconds)."""

    account_id: str
    model: str
    until: float
    reason: str
    message: str = ""


@dataclass(slots=True, frozen=True)
class Catalog:
    """The answer of ``fetchAvailableModels`` for one account, and when it was fetched."""

    account_id: str
    data: dict[str, Any]
    fetched_at: float


class Store(Protocol):
    """Durable state. Implementations are async context managers opened in the app's lifespan."""

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def list_accounts(self) -> list[Account]: ...

    async def save_account(self, account: Account) -> None:
        """Insert or update by id. Raises ``ValueError`` if another account has the same email."""

    async def delete_account(self, account_id: str) -> None: ...

    async def list_cooldowns(self) -> list[Cooldown]: ...

    async def save_cooldown(self, cooldown: Cooldown) -> None: ...

    async def clear_cooldowns(self, account_id: str | None = None) -> None: ...

    async def list_bindings(self) -> dict[str, str]: ...

    async def save_binding(self, session_key: str, account_id: str) -> None: ...

    async def clear_bindings(self, account_id: str | None = None) -> None: ...

    async def list_catalogs(self) -> list[Catalog]: ...

    async def save_catalog(self, catalog: Catalog) -> None: ...
