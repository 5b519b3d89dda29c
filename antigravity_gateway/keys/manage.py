"""The operations on user keys that ``agw keys`` and the admin API share: add, edit, rotate, revoke,
remove. A new secret is returned once, to be shown once; only its hash reaches the store.

Options come as operators type them (``--rpm 10``, ``"expires": "30d"``, ``"models": "gemini-*"`` or a
list) and are checked all together before anything is written. Errors are :class:`GatewayError`\\ s
(400 a bad value, 404 no such key, 409 a name taken or a revoked key) with a sentence for the user.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from antigravity_gateway.errors import GatewayError, InvalidRequest, NotFound
from antigravity_gateway.keys import parse
from antigravity_gateway.keys.record import ApiKey
from antigravity_gateway.keys.secret import display_prefix, hash_secret, new_secret
from antigravity_gateway.store.base import Store

#: The options a key is made or edited with (``expires`` becomes ``expires_at``).
OPTIONS = ("models", "rpm", "tokens_per_day", "concurrency", "expires", "ips", "note")


class Conflict(GatewayError):
    status = 409


def changes_from(options: Mapping[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """The key fields for ``options`` (those given; ``None`` values are left out). Raises
    :class:`InvalidRequest` naming the option and what is wrong with it."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise InvalidRequest(f"unknown key option(s): {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    for option, value in options.items():
        if value is None:
            continue
        try:
            if option == "models":
                changes["models"] = parse.model_patterns(_text_or_list(value, option))
            elif option == "ips":
                changes["ips"] = parse.networks(_text_or_list(value, option))
            elif option == "expires":
                if isinstance(value, int | float) and not isinstance(value, bool):
                    changes["expires_at"] = max(0.0, float(value))  # epoch seconds (the admin API)
                else:
                    changes["expires_at"] = parse.expiry(str(value), now=now)
            elif option == "note":
                changes["note"] = parse.note(str(value))
            else:
                changes[option] = parse.limit(value, option.replace("_", " "))
        except ValueError as exc:
            raise InvalidRequest(f"{option}: {exc}", param=option) from None
    if changes.get("expires_at") and changes["expires_at"] <= (time.time() if now is None else now):
        raise InvalidRequest("expires: that moment has passed", param="expires")
    return changes


def _text_or_list(value: Any, option: str) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{option} must be a comma-separated text or a list of texts")


async def _existing(store: Store, name: str) -> ApiKey:
    key = await store.get_key(name)
    if key is None:
        raise NotFound(f"no API key named {name!r}")
    return key


async def add(store: Store, name: str, options: Mapping[str, Any]) -> tuple[ApiKey, str]:
    """A new key with a new secret; returns the key and the secret (shown once, never stored)."""
    try:
        name = parse.key_name(name)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="name") from None
    changes = changes_from(options)
    secret = new_secret()
    key = ApiKey(name=name, prefix=display_prefix(secret), secret_hash=hash_secret(secret), **changes)
    try:
        await store.create_key(key)
    except ValueError:
        raise Conflict(
            f"an API key named {name!r} already exists (revoked keys too): pick another name, or "
            f"remove it first (`agw keys remove {name}`)"
        ) from None
    return key, secret


async def edit(store: Store, name: str, options: Mapping[str, Any]) -> ApiKey:
    key = await _existing(store, name)
    changes = changes_from(options)
    if key.revoked_at:
        raise Conflict(f"the API key {name!r} is revoked: it cannot be changed (add a new key)")
    updated = await store.update_key(name, changes)
    if updated is None:
        raise NotFound(f"no API key named {name!r}")
    return updated


async def rotate(store: Store, name: str) -> tuple[ApiKey, str]:
    """A new secret for the key (its limits and usage stay); the old secret stops working at once in this
    process, and within a second in every other one."""
    key = await _existing(store, name)
    if key.revoked_at:
        raise Conflict(f"the API key {name!r} is revoked: add a new key instead")
    secret = new_secret()
    updated = await store.update_key(
        name, {"secret_hash": hash_secret(secret), "prefix": display_prefix(secret)}
    )
    if updated is None:
        raise NotFound(f"no API key named {name!r}")
    return updated, secret


async def revoke(store: Store, name: str) -> ApiKey:
    """Revoke the key for good (it stays listed, with its usage; a revoked key is answered 401
    "revoked"). Revoking it again changes nothing."""
    key = await _existing(store, name)
    if key.revoked_at:
        return key
    updated = await store.update_key(name, {"revoked_at": time.time()})
    if updated is None:
        raise NotFound(f"no API key named {name!r}")
    return updated


async def remove(store: Store, name: str) -> None:
    """Forget the key, its counters and daily totals (the request log keeps its name); the name is
    free again."""
    if not await store.delete_key(name):
        raise NotFound(f"no API key named {name!r}")
