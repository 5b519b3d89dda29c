"""SQLite implementation of :class:`~antigravity_gateway.store.base.Store`.

One connection owned by one worker thread: every call is queued to it, so the event loop never blocks
on disk and writes are serialised. WAL journal, ``synchronous=NORMAL``; each write is one transaction
(atomic). The database file is created with mode 0600 inside a 0700 directory: it holds refresh tokens.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

from antigravity_gateway.store.base import Account, Catalog, Cooldown

T = TypeVar("T")

_ACCOUNT_COLUMNS = [f.name for f in fields(Account)]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS accounts (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in _ACCOUNT_COLUMNS)}
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_email ON accounts(email);
CREATE TABLE IF NOT EXISTS cooldowns (
    account_id TEXT NOT NULL, model TEXT NOT NULL, until REAL NOT NULL, reason TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '', PRIMARY KEY (account_id, model)
);
CREATE TABLE IF NOT EXISTS bindings (
    session_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS catalogs (
    account_id TEXT PRIMARY KEY, data BLOB NOT NULL, fetched_at REAL NOT NULL
);
"""


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (and its directory) readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SQLiteStore:
    """Store on one SQLite file. Use as ``async with SQLiteStore(path) as store``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> SQLiteStore:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agw-store")
        await self._run(self._open)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._executor is None:
            return
        await self._run(self._close)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _open(self) -> None:
        ensure_private_file(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> Callable[[], None]:
        def run() -> None:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(sql, params)

        return run

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> Callable[[], list[tuple[Any, ...]]]:
        def run() -> list[tuple[Any, ...]]:
            assert self._conn is not None
            return self._conn.execute(sql, params).fetchall()

        return run

    # -- accounts ---------------------------------------------------------------------------------

    async def list_accounts(self) -> list[Account]:
        rows = await self._run(
            self._read(
                f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM accounts ORDER BY priority DESC, created_at"
            )
        )
        return [Account(**dict(zip(_ACCOUNT_COLUMNS, row, strict=True))) for row in rows]

    async def save_account(self, account: Account) -> None:
        placeholders = ", ".join("?" for _ in _ACCOUNT_COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in _ACCOUNT_COLUMNS if c != "id")
        sql = (
            f"INSERT INTO accounts ({', '.join(_ACCOUNT_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        try:
            await self._run(self._write(sql, astuple(account)))
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"another account already has the email {account.email}") from exc

    async def delete_account(self, account_id: str) -> None:
        def run() -> None:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                for table in ("accounts", "cooldowns", "bindings", "catalogs"):
                    column = "id" if table == "accounts" else "account_id"
                    self._conn.execute(f"DELETE FROM {table} WHERE {column}=?", (account_id,))

        await self._run(run)

    # -- cooldowns --------------------------------------------------------------------------------

    async def list_cooldowns(self) -> list[Cooldown]:
        rows = await self._run(
            self._read(
                "SELECT account_id, model, until, reason, message FROM cooldowns WHERE until > ?",
                (time.time(),),
            )
        )
        return [Cooldown(*row) for row in rows]

    async def save_cooldown(self, cooldown: Cooldown) -> None:
        await self._run(
            self._write(
                "INSERT OR REPLACE INTO cooldowns (account_id, model, until, reason, message) VALUES (?, ?, ?, ?, ?)",
                astuple(cooldown),
            )
        )

    async def clear_cooldowns(self, account_id: str | None = None) -> None:
        if account_id is None:
            await self._run(self._write("DELETE FROM cooldowns"))
        else:
            await self._run(self._write("DELETE FROM cooldowns WHERE account_id=?", (account_id,)))

    # -- bindings ---------------------------------------------------------------------------------

    async def list_bindings(self) -> dict[str, str]:
        rows = await self._run(self._read("SELECT session_key, account_id FROM bindings"))
        return {key: account_id for key, account_id in rows}

    async def save_binding(self, session_key: str, account_id: str) -> None:
        await self._run(
            self._write(
                "INSERT OR REPLACE INTO bindings (session_key, account_id, updated_at) VALUES (?, ?, ?)",
                (session_key, account_id, time.time()),
            )
        )

    async def clear_bindings(self, account_id: str | None = None) -> None:
        if account_id is None:
            await self._run(self._write("DELETE FROM bindings"))
        else:
            await self._run(self._write("DELETE FROM bindings WHERE account_id=?", (account_id,)))

    # -- model catalogs ---------------------------------------------------------------------------

    async def list_catalogs(self) -> list[Catalog]:
        rows = await self._run(self._read("SELECT account_id, data, fetched_at FROM catalogs"))
        return [Catalog(account_id, orjson.loads(data), fetched_at) for account_id, data, fetched_at in rows]

    async def save_catalog(self, catalog: Catalog) -> None:
        await self._run(
            self._write(
                "INSERT OR REPLACE INTO catalogs (account_id, data, fetched_at) VALUES (?, ?, ?)",
                (catalog.account_id, orjson.dumps(catalog.data), catalog.fetched_at),
            )
        )
