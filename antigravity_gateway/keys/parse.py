"""What operators type for a key: its name, an expiry, model globs, CIDR lists, limits.

Every function raises ``ValueError`` with a sentence that names the bad value; the CLI and the admin
API show it as is.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_PATTERN = re.compile(r"[A-Za-z0-9._*?/:@+-]{1,128}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_PATTERNS = 64
MAX_NETWORKS = 256
MAX_NOTE = 500
#: Upper bound of the numeric limits (rpm, tokens per day, concurrency).
MAX_LIMIT = 10**12
NEVER = ("", "never", "none")


def key_name(value: str) -> str:
    """A key name: 1 to 64 letters, digits, ``.``, ``_``, ``@`` or ``-``, starting with a letter or digit
    (it shows in logs, tables and metric labels)."""
    value = value.strip()
    if not NAME.fullmatch(value):
        raise ValueError(
            f"{value[:80]!r} is not a key name: use 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return value


def duration(value: str) -> float:
    """Seconds of ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a sum such as ``1d12h``."""
    text = value.strip().lower()
    parts = _DURATION.findall(text)
    if not text or not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration: write e.g. 30d, 12h, 90m or 1d12h")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a duration: it must be longer than zero")
    return seconds


def expiry(value: str, *, now: float | None = None) -> float:
    """Epoch seconds of an expiry: a duration from now (``30d``), an ISO date (``2026-01-31``: the end
    of that day, UTC) or an ISO date and time (``2026-01-31T18:00``: UTC unless it names its offset).
    ``0.0`` for ``never``/``none``/empty."""
    text = value.strip()
    if text.lower() in NEVER:
        return 0.0
    now = time.time() if now is None else now
    if _DURATION.match(text.lower()):
        return now + duration(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86400
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an expiry: write a duration (30d, 12h), a date (2026-01-31) or a date "
            "and time (2026-01-31T18:00Z), or 'never'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def since(value: str, *, now: float | None = None) -> float:
    """Epoch seconds of a starting point: a duration back from now (``7d``) or an ISO date (its start,
    UTC)."""
    text = value.strip()
    now = time.time() if now is None else now
    if _DURATION.match(text.lower()):
        return now - duration(text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration (7d, 24h) or a date (2026-01-31)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _items(value: str | Iterable[str]) -> list[str]:
    raw = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in raw if item.strip()]


def model_patterns(value: str | Iterable[str]) -> tuple[str, ...]:
    """Model globs (``gemini-*,claude-sonnet-*``; ``*`` any run of characters, ``?`` one). ``()`` (every
    model) for an empty list or ``*``."""
    patterns = list(dict.fromkeys(_items(value)))
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} model patterns")
    for pattern in patterns:
        if not _PATTERN.fullmatch(pattern):
            raise ValueError(
                f"{pattern[:80]!r} is not a model pattern: use model-name characters and * or ? wildcards"
            )
    if "*" in patterns:
        return ()
    return tuple(p[len("models/") :] if p.startswith("models/") else p for p in patterns)


def networks(value: str | Iterable[str]) -> tuple[str, ...]:
    """CIDR networks (or single addresses), IPv4 or IPv6, written in their normal form; ``()`` (any
    address) for an empty list, ``any`` or ``*``."""
    items = _items(value)
    if items in (["any"], ["*"]):
        return ()
    if len(items) > MAX_NETWORKS:
        raise ValueError(f"at most {MAX_NETWORKS} networks")
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item[:80]!r} is not an IP address or CIDR network") from None
    return tuple(dict.fromkeys(out))


def limit(value: object, what: str) -> int:
    """A limit: a whole number from 0 (no limit) to 10^12."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number (0 for no limit)")
    if isinstance(value, str):
        value = value.strip().replace("_", "")
        if value.lower() in ("", "none", "unlimited"):
            return 0
    try:
        number = int(str(value)) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a whole number (0 for no limit), not {str(value)[:40]!r}") from None
    if isinstance(value, float) and value != number:
        raise ValueError(f"{what} must be a whole number (0 for no limit)")
    if not 0 <= number <= MAX_LIMIT:
        raise ValueError(f"{what} must be between 0 (no limit) and {MAX_LIMIT}")
    return number


def note(value: str) -> str:
    text = value.strip()
    if len(text) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    return text
