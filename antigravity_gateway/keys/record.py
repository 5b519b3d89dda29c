"""What the store keeps about a user key, its daily usage, and what an admission answers.

A key never holds its secret: ``secret_hash`` is the SHA-256 of it (``keys/secret.py``) and ``prefix``
its first characters, for people to tell keys apart. Limits of ``0`` mean "no limit"; an empty
``models`` means every model and an empty ``ips`` every address.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from antigravity_gateway.core.models_map import strip_model_prefix

KeyState = Literal["active", "expired", "revoked"]
#: The limit an admission was refused for.
Limit = Literal["", "rpm", "concurrency", "tokens_per_day"]

#: The sliding window of the ``rpm`` limit, in seconds.
RPM_WINDOW = 60.0


def utc_day(now: float) -> str:
    """The UTC calendar day of ``now`` (``YYYY-MM-DD``): the window of ``tokens_per_day``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def next_utc_midnight(now: float) -> float:
    """When the UTC day of ``now`` ends (epoch seconds): ``tokens_per_day`` starts again from zero."""
    return (int(now) // 86400 + 1) * 86400.0


@dataclass(slots=True)
class ApiKey:
    """One user key. Writable fields are listed in :data:`EDITABLE_FIELDS`."""

    name: str
    prefix: str
    secret_hash: str = field(repr=False)
    models: tuple[str, ...] = ()
    rpm: int = 0
    tokens_per_day: int = 0
    concurrency: int = 0
    expires_at: float = 0.0
    ips: tuple[str, ...] = ()
    note: str = ""
    created_at: float = field(default_factory=time.time)
    revoked_at: float = 0.0
    last_used_at: float = 0.0

    def state(self, now: float | None = None) -> KeyState:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= (time.time() if now is None else now):
            return "expired"
        return "active"

    @property
    def limited(self) -> bool:
        """Whether a request must pass the shared counters (some limit is set)."""
        return bool(self.rpm or self.tokens_per_day or self.concurrency)

    def allows_name(self, model: str) -> bool:
        """Whether one model name matches the key's patterns."""
        if not self.models:
            return True
        name = strip_model_prefix(model)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.models)

    def allows(self, requested: str, upstream: str) -> bool:
        """The model rule: the name the client asked for and the upstream model it maps to must both
        match a pattern (an allowed alias cannot reach a model the key may not use, and the reverse)."""
        return self.allows_name(requested) and self.allows_name(upstream)

    def public_dict(self, now: float | None = None) -> dict[str, Any]:
        """A view safe to print or serve: the prefix, never the hash."""
        return {
            "name": self.name,
            "prefix": self.prefix,
            "state": self.state(now),
            "models": list(self.models),
            "rpm": self.rpm or None,
            "tokens_per_day": self.tokens_per_day or None,
            "concurrency": self.concurrency or None,
            "expires_at": self.expires_at or None,
            "ips": list(self.ips),
            "note": self.note,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at or None,
            "last_used_at": self.last_used_at or None,
        }


#: The fields ``update_key`` may write (``name`` and ``created_at`` never change).
EDITABLE_FIELDS = frozenset(
    {
        "prefix",
        "secret_hash",
        "models",
        "rpm",
        "tokens_per_day",
        "concurrency",
        "expires_at",
        "ips",
        "note",
        "revoked_at",
    }
)


@dataclass(slots=True)
class KeyUsage:
    """A key's totals for one UTC day: admitted requests, their tokens (input and output, from Google's
    usage metadata) and errors; requests refused by the key's limits; the last admitted request."""

    name: str
    day: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    refused: int = 0
    last_used_at: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def public_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "day": self.day,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "errors": self.errors,
            "refused": self.refused,
            "last_used_at": self.last_used_at or None,
        }


@dataclass(slots=True, frozen=True)
class Admission:
    """The answer of :meth:`~antigravity_gateway.store.base.Store.admit_key_request`.

    ``limit`` names the limit that refused the request (``""``: admitted). The counts are as of the
    decision, this request included when it was admitted: ``window_requests`` in the last 60 s,
    ``window_reset`` seconds until the oldest of them leaves the window (0 when empty), ``in_flight``
    requests of the key in progress, ``tokens_today`` the UTC day's input plus output tokens so far.
    ``retry_after`` (refused only): seconds until the refusing limit may admit one more.
    """

    limit: Limit = ""
    retry_after: float = 0.0
    window_requests: int = 0
    window_reset: float = 0.0
    in_flight: int = 0
    tokens_today: int = 0

    @property
    def admitted(self) -> bool:
        return not self.limit
