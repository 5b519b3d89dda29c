"""Writing settings back to ``<AGW_HOME>/config.toml`` (the dashboard and ``agw config set``).

Several writers may race (``agw config set`` while the dashboard saves a setting), so an update is a
read-modify-write under an exclusive lock on the sibling file ``config.toml.lock``. The file is
rewritten atomically and durably: a temp file with mode 0600 (it may hold the API key), fsynced,
renamed over the old one, then the directory fsynced so the rename itself survives a power loss.
Keys not being changed are kept as they were.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import tomllib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import SecretStr, ValidationError

from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Store
from antigravity_gateway.store.sqlite import ensure_private_file

logger = logging.getLogger(__name__)


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


@contextlib.contextmanager
def config_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (blocking): one writer of ``path`` at a time, across
    processes. The lock file stays (removing it would race with a writer about to lock it)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` atomically and durably (mode 0600). Call it under :func:`config_lock`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    ensure_private_file(path)


def update_config(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the file (a ``None`` value removes the key); return the new content."""
    with config_lock(path):
        data = read_config(path)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        write_config(path, data)
    return data


#: Settings a running gateway applies as soon as they change; the others need a restart.
LIVE_KEYS = frozenset(
    {
        "api_key",
        "admin_password",
        "metrics_token",
        "auth_mode",
        "model_mapping",
        "scheduling_mode",
        "fixed_account",
        "cache_first_max_wait",
        "quota_protection",
        "debug_capture",
        "max_attempts",
        "retry_max_wait",
        "ip_allow",
        "ip_deny",
    }
)


def validated(settings: Settings, changes: dict[str, Any]) -> dict[str, Any]:
    """Check ``changes`` against the settings' types; return them as the typed values. Raises ValueError."""
    unknown = set(changes) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    if "secret_key" in changes:
        raise ValueError(
            "secret_key is not saved to config.toml, next to the database it protects: set AGW_SECRET_KEY "
            "in the environment (or AGW_SECRET_KEY=keyring), see `agw help security`"
        )
    try:
        checked = Settings(**{**settings.model_dump(), **changes})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    return {key: getattr(checked, key) for key in changes}


def apply_live(settings: Settings, values: dict[str, Any]) -> list[str]:
    """Set the live keys of ``values`` on the running settings; return the keys that need a restart."""
    restart = []
    for key, value in values.items():
        if getattr(settings, key) == value:
            continue
        if key in LIVE_KEYS:
            setattr(settings, key, value)
        else:
            restart.append(key)
    return restart


def reload_live(settings: Settings, path: Path) -> list[str]:
    """Apply the live keys of ``config.toml`` that no ``AGW_*`` environment variable overrides."""
    data = read_config(path)
    keys = {k: v for k, v in data.items() if k in LIVE_KEYS and f"AGW_{k.upper()}" not in os.environ}
    if not keys:
        return []
    values = validated(settings, keys)
    changed = [k for k, v in values.items() if getattr(settings, k) != v]
    apply_live(settings, values)
    return changed


async def apply_shared_settings(settings: Settings, store: Store) -> None:
    """Apply the live settings another host shared (not those an ``AGW_*`` variable sets here)."""
    shared = await store.shared_settings()
    keys = {k: v for k, v in shared.items() if k in LIVE_KEYS and f"AGW_{k.upper()}" not in os.environ}
    if not keys:
        return
    try:
        values = validated(settings, keys)
    except ValueError as exc:
        logger.warning("shared settings not applied: %s", exc)
        return
    changed = [k for k, v in values.items() if getattr(settings, k) != v]
    apply_live(settings, values)
    if changed:
        logger.info("shared settings changed: applied %s", ", ".join(sorted(changed)))


async def share_settings(settings: Settings, store: Store, keys: Collection[str]) -> None:
    """With Redis, give the other hosts this host's new values of the live ``keys`` (the dashboard, a
    changed config.toml); they apply them within a second. Nothing to do on one AGW_HOME."""
    keys = [k for k in keys if k in LIVE_KEYS]
    if not settings.redis_url or not keys:
        return
    shared = await store.shared_settings()
    shared.update({k: getattr(settings, k) for k in keys})
    await store.save_shared_settings(shared)
