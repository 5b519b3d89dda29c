"""SQLite implementation of :class:`~antigravity_gateway.store.base.Store`.

One connection owned by one worker thread: every call is queued to it, so the event loop never blocks
on disk and writes are serialised. WAL journal; each write is one transaction (atomic). Account writes
(they carry a rotated refresh token that Google will not give again) commit with ``synchronous=FULL``:
they survive a power loss. The log-like writes (request log, cooldowns, bindings, catalogs) commit with
``synchronous=NORMAL`` (see :meth:`SQLiteStore._transaction`). The database file is created with mode
0600 inside a 0700 directory: it holds refresh tokens, encrypted when a secret key is given
(``store/crypto.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import MISSING, astuple, fields
from pathlib import Path
from typing import Any, TypeVar, get_args

import orjson

from antigravity_gateway.errors import SecretKeyError
from antigravity_gateway.keys.record import (
    EDITABLE_FIELDS,
    RPM_WINDOW,
    Admission,
    ApiKey,
    KeyUsage,
    Limit,
    next_utc_midnight,
    utc_day,
)
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import (
    REQUEST_COLUMNS,
    TOKEN_FIELDS,
    Account,
    Catalog,
    Cooldown,
    RequestQuery,
    RequestRecord,
    StoreArea,
)
from antigravity_gateway.store.crypto import PREFIX, TokenCipher, is_encrypted, new_salt, resolve_secret_key

T = TypeVar("T")

_ACCOUNT_COLUMNS = [f.name for f in fields(Account)]
_KEY_COLUMNS = [f.name for f in fields(ApiKey)]
_KEY_LISTS = ("models", "ips")  # tuples, stored as JSON arrays
_USAGE_COLUMNS = [f.name for f in fields(KeyUsage)]
_REQUEST_COLUMNS = list(REQUEST_COLUMNS)
_TOKEN_COLUMNS = ("refresh_token", "access_token", "proxy_url")  # proxy_url: may hold a password
_AREAS: tuple[StoreArea, ...] = get_args(StoreArea)
_ANY_ENCRYPTED = " OR ".join(f"{c} GLOB '{PREFIX}*'" for c in _TOKEN_COLUMNS)
_ANY_PLAINTEXT = " OR ".join(f"({c} != '' AND {c} NOT GLOB '{PREFIX}*')" for c in _TOKEN_COLUMNS)

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
CREATE INDEX IF NOT EXISTS bindings_updated ON bindings(updated_at);
CREATE TABLE IF NOT EXISTS catalogs (
    account_id TEXT PRIMARY KEY, data BLOB NOT NULL, fetched_at REAL NOT NULL, summary BLOB
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL, protocol TEXT, path TEXT, model TEXT, upstream_model TEXT, account_id TEXT,
    account_email TEXT, status INTEGER, duration_ms REAL, ttfb_ms REAL, input_tokens INTEGER,
    output_tokens INTEGER, cached_tokens INTEGER, attempts INTEGER, stream INTEGER, error TEXT,
    request_body BLOB, response_body BLOB, key_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (area TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, expires_at REAL NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS in_flight (worker TEXT PRIMARY KEY, counts BLOB NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY, prefix TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE,
    models TEXT NOT NULL DEFAULT '[]', rpm INTEGER NOT NULL DEFAULT 0,
    tokens_per_day INTEGER NOT NULL DEFAULT 0, concurrency INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL DEFAULT 0, ips TEXT NOT NULL DEFAULT '[]', note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, revoked_at REAL NOT NULL DEFAULT 0, last_used_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS key_requests (
    name TEXT NOT NULL, request_id TEXT NOT NULL, started_at REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (name, request_id)
);
CREATE INDEX IF NOT EXISTS key_requests_started ON key_requests(name, started_at);
CREATE TABLE IF NOT EXISTS key_usage (
    name TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0, refused INTEGER NOT NULL DEFAULT 0,
    last_used_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (name, day)
);
"""


def _column_defaults() -> dict[str, dict[str, Any]]:
    """Per table, every column the code reads, with the default a row of an older database gets."""
    accounts: dict[str, Any] = {}
    for f in fields(Account):
        if f.name == "id":
            continue
        if f.default is not MISSING:
            accounts[f.name] = f.default
        elif f.default_factory is not MISSING:
            accounts[f.name] = f.default_factory()  # created_at: the time of the upgrade
        else:
            accounts[f.name] = ""
    return {
        "accounts": accounts,
        "requests": {**dict.fromkeys(_REQUEST_COLUMNS), "key_name": ""},
        "cooldowns": {"message": ""},
        "catalogs": {"summary": None},
    }


def upgrade_schema(conn: sqlite3.Connection) -> list[str]:
    """Bring a database made by an earlier release up to this one's schema, in place, keeping its data:
    missing tables come from ``_SCHEMA`` (``IF NOT EXISTS``), missing columns are added here with their
    default. Returns the ``table.column`` names added."""
    added = []
    for table, columns in _column_defaults().items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column, default in columns.items():
            if column in have:
                continue
            clause = "" if default is None else f" NOT NULL DEFAULT {_sql_literal(default)}"
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}{clause}")
            added.append(f"{table}.{column}")
    return added


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool | int | float):
        return repr(int(value) if isinstance(value, bool) else value)
    return "'" + str(value).replace("'", "''") + "'"


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (and its directory) readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def store_for(settings: Settings) -> SQLiteStore:
    """The store in ``settings.home``, encrypting tokens with the settings' secret key (if any)."""
    return SQLiteStore(settings.db_path, secret_key=resolve_secret_key(settings))


class SQLiteStore:
    """Store on one SQLite file. Use as ``async with SQLiteStore(path) as store``.

    With ``secret_key`` (see :func:`~antigravity_gateway.store.crypto.resolve_secret_key`) the tokens
    are encrypted at rest, and plaintext rows are encrypted when the store opens. Without it, opening a
    store whose tokens are encrypted raises :class:`SecretKeyError`; so does a wrong key.
    """

    def __init__(self, path: Path, *, secret_key: str = "") -> None:
        self.path = path
        self._secret_key = secret_key
        self._cipher: TokenCipher | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._versions: dict[str, int] | None = None  # per area, as last reported by changes()

    async def __aenter__(self) -> SQLiteStore:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agw-store")
        try:
            await self._run(self._open)
        except BaseException:
            await self._run(self._close)
            self._executor.shutdown(wait=True)
            self._executor = None
            raise
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
        self._conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        # Deleted and overwritten content is zeroed in the pages SQLite writes anyway: a token that is
        # encrypted, rotated or removed leaves no plaintext copy behind in the file.
        conn.execute("PRAGMA secure_delete=FAST")
        conn.executescript(_SCHEMA)
        upgrade_schema(conn)
        self._open_secrets(conn)

    def _open_secrets(self, conn: sqlite3.Connection) -> None:
        """Check the secret key against the store, and encrypt the plaintext tokens when there is one."""
        if not self._secret_key:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if (
                "key_check" in meta
                or conn.execute(f"SELECT 1 FROM accounts WHERE {_ANY_ENCRYPTED}").fetchone()
            ):
                raise SecretKeyError(
                    f"the account tokens in {self.path} are encrypted: set AGW_SECRET_KEY to the key they "
                    "were encrypted with (see `agw help security`)"
                )
            return
        # The usual case, a store already encrypted with this key: scrypt (about 0.1 s) and the check
        # run without the write lock, so a command opening the store never holds up a running gateway.
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        known = self._verified(meta)
        if (
            known is not None
            and not conn.execute(f"SELECT 1 FROM accounts WHERE {_ANY_PLAINTEXT}").fetchone()
        ):
            self._cipher = known
            return
        with self._transaction():
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())  # again, under the lock
            cipher = (
                known if known is not None and known.salt == meta.get("kdf_salt") else self._verified(meta)
            )
            if cipher is None:
                if conn.execute(f"SELECT 1 FROM accounts WHERE {_ANY_ENCRYPTED}").fetchone():
                    raise SecretKeyError(
                        f"the account tokens in {self.path} are encrypted but the key check is missing: "
                        "restore the database from a backup"
                    )
                cipher = TokenCipher(self._secret_key, new_salt())
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [("kdf_salt", cipher.salt), ("key_check", cipher.check_value())],
                )
            rows = conn.execute(f"SELECT id, {', '.join(_TOKEN_COLUMNS)} FROM accounts").fetchall()
            migrated = 0
            for account_id, *tokens in rows:
                if any(t and not is_encrypted(t) for t in tokens):
                    conn.execute(
                        f"UPDATE accounts SET {', '.join(c + '=?' for c in _TOKEN_COLUMNS)} WHERE id=?",
                        (*(cipher.encrypt(t) for t in tokens), account_id),
                    )
                    migrated += 1
        if migrated:
            self._checkpoint()
        self._cipher = cipher

    def _verified(self, meta: dict[str, Any]) -> TokenCipher | None:
        """The cipher for the store's salt, once the key passed the check; ``None`` for a store that has
        no salt yet. Raises :class:`SecretKeyError` for a wrong key."""
        if "kdf_salt" not in meta or "key_check" not in meta:
            return None
        cipher = TokenCipher(self._secret_key, meta["kdf_salt"])
        if not cipher.verify(meta["key_check"]):
            raise SecretKeyError(
                f"AGW_SECRET_KEY is not the key the account tokens in {self.path} were encrypted with"
            )
        return cipher

    def _checkpoint(self) -> None:
        """Copy the WAL into the database and empty it: the WAL's older page images held plaintext
        tokens. Best effort: a reader in another process may keep part of the WAL alive a while."""
        assert self._conn is not None
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def decrypt_tokens(self) -> int:
        """Store every token in plaintext again and forget the salt (``agw secrets decrypt``): after
        this, the store opens without a key. Returns how many accounts were rewritten."""

        def run() -> int:
            assert self._conn is not None
            if self._cipher is None:
                raise SecretKeyError(
                    "the store was opened without AGW_SECRET_KEY: there is nothing to decrypt"
                )
            with self._transaction():
                rows = self._conn.execute(f"SELECT id, {', '.join(_TOKEN_COLUMNS)} FROM accounts").fetchall()
                for account_id, *tokens in rows:
                    self._conn.execute(
                        f"UPDATE accounts SET {', '.join(c + '=?' for c in _TOKEN_COLUMNS)} WHERE id=?",
                        (*(self._cipher.decrypt(t) for t in tokens), account_id),
                    )
                self._conn.execute("DELETE FROM meta WHERE key IN ('kdf_salt', 'key_check')")
            self._checkpoint()
            self._cipher = None
            return len(rows)

        return await self._run(run)

    @property
    def encrypted(self) -> bool:
        """Whether this store encrypts the tokens it writes."""
        return self._cipher is not None

    def _decrypt(self, value: str) -> str:
        if self._cipher is not None:
            return self._cipher.decrypt(value)
        if is_encrypted(value):  # another process set a key after this one opened the store
            raise SecretKeyError(
                f"the account tokens in {self.path} were encrypted by another process: restart with the "
                "same AGW_SECRET_KEY"
            )
        return value

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``durable=False`` commits with ``synchronous=NORMAL``: on a power loss
        the last such commits may be lost (never corrupted), and they never wait on an fsync.

        That is for the log-like writes only: request-log batches, cooldowns, bindings and catalogs.
        Measured on the development VM, a WAL commit costs 0.19 ms with FULL against 0.01 ms with
        NORMAL (50-row batch: 0.25 against 0.07 ms); on laptop disks an fsync takes 1-10 ms. The
        request-log writer commits at most every 0.5 s, so FULL would be affordable there, but these
        writes share the store's one thread with the account writes queued behind them, cooldowns and
        bindings come with requests, and losing them costs nothing durable: a lost log batch is at most
        0.5 s of statistics, a cooldown is learned again from Google's next 429, a binding only moves a
        conversation to another account. Account writes (tokens) always commit with FULL.
        """
        conn = self._conn
        assert conn is not None
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous=FULL")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _write(
        self,
        sql: str,
        params: tuple[Any, ...] = (),
        *,
        durable: bool = False,
        areas: tuple[StoreArea, ...] = (),
    ) -> Callable[[], None]:
        def run() -> None:
            with self._transaction(durable=durable) as conn:
                conn.execute(sql, params)
                if areas:
                    self._bump(conn, *areas)

        return run

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> Callable[[], list[tuple[Any, ...]]]:
        def run() -> list[tuple[Any, ...]]:
            assert self._conn is not None
            return self._conn.execute(sql, params).fetchall()

        return run

    @staticmethod
    def _bump(conn: sqlite3.Connection, *areas: StoreArea) -> None:
        """Count a write of ``areas`` (in the writing transaction): :meth:`changes` reports them."""
        conn.executemany(
            "INSERT INTO versions (area, n) VALUES (?, 1) ON CONFLICT(area) DO UPDATE SET n = n + 1",
            [(area,) for area in areas],
        )

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "sqlite"}

    async def changes(self) -> set[StoreArea]:
        def run() -> set[StoreArea]:
            assert self._conn is not None
            versions = dict(self._conn.execute("SELECT area, n FROM versions").fetchall())
            first = self._versions is None
            seen = self._versions or {}
            self._versions = {a: versions.get(a, 0) for a in _AREAS}
            return {a for a in _AREAS if first or self._versions[a] != seen.get(a, 0)}

        return await self._run(run)

    # -- accounts ---------------------------------------------------------------------------------

    def _account(self, row: tuple[Any, ...]) -> Account:
        values = dict(zip(_ACCOUNT_COLUMNS, row, strict=True))
        for column in _TOKEN_COLUMNS:
            values[column] = self._decrypt(values[column])
        return Account(**values)

    def _encrypt(self, column: str, value: Any) -> Any:
        if self._cipher is not None and column in _TOKEN_COLUMNS:
            return self._cipher.encrypt(value)
        return value

    async def list_accounts(self) -> list[Account]:
        rows = await self._run(
            self._read(
                f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM accounts ORDER BY priority DESC, created_at"
            )
        )
        return [self._account(row) for row in rows]

    async def get_account(self, account_id: str) -> Account | None:
        rows = await self._run(
            self._read(f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM accounts WHERE id=?", (account_id,))
        )
        return self._account(rows[0]) if rows else None

    async def save_account(self, account: Account) -> None:
        columns = [c for c in _ACCOUNT_COLUMNS if c != "token_version"]
        updates = ", ".join(f"{c}=excluded.{c}" for c in columns if c != "id")
        sql = (
            f"INSERT INTO accounts ({', '.join(columns)}, token_version) "
            f"VALUES ({', '.join('?' for _ in columns)}, 1) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}, token_version = accounts.token_version + 1 "
            "RETURNING token_version"
        )
        values = tuple(self._encrypt(c, getattr(account, c)) for c in columns)

        def run() -> int:
            with self._transaction() as conn:
                version = int(conn.execute(sql, values).fetchone()[0])
                self._bump(conn, "accounts")
                return version

        try:
            account.token_version = await self._run(run)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"another account already has the email {account.email}") from exc

    async def update_account(
        self, account_id: str, changes: Mapping[str, Any], *, expect_token_version: int | None = None
    ) -> int | None:
        unknown = set(changes) - set(_ACCOUNT_COLUMNS) | ({"id", "token_version"} & set(changes))
        if unknown:
            raise ValueError(f"not writable account fields: {', '.join(sorted(unknown))}")
        tokens = bool(TOKEN_FIELDS & set(changes))
        assignments = [f"{c}=?" for c in changes] + (["token_version = token_version + 1"] if tokens else [])
        values = tuple(self._encrypt(c, v) for c, v in changes.items())

        def run() -> int | None:
            with self._transaction() as conn:
                row = conn.execute("SELECT token_version FROM accounts WHERE id=?", (account_id,)).fetchone()
                if row is None or (expect_token_version is not None and row[0] != expect_token_version):
                    return None
                if not assignments:
                    return int(row[0])
                version = conn.execute(
                    f"UPDATE accounts SET {', '.join(assignments)} WHERE id=? RETURNING token_version",
                    (*values, account_id),
                ).fetchone()[0]
                self._bump(conn, "accounts")
                return int(version)

        try:
            return await self._run(run)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"another account already has the email {changes.get('email')}") from exc

    async def delete_account(self, account_id: str) -> None:
        def run() -> None:
            with self._transaction() as conn:
                for table in ("accounts", "cooldowns", "bindings", "catalogs"):
                    column = "id" if table == "accounts" else "account_id"
                    conn.execute(f"DELETE FROM {table} WHERE {column}=?", (account_id,))
                self._bump(conn, "accounts", "cooldowns", "bindings_reset", "catalogs")

        await self._run(run)

    # -- leases and requests in flight ------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        def run() -> bool:
            now = time.time()
            with self._transaction(durable=False) as conn:
                row = conn.execute("SELECT holder, expires_at FROM leases WHERE name=?", (name,)).fetchone()
                if row is not None and row[0] != holder and row[1] > now:
                    return False
                conn.execute(
                    "INSERT OR REPLACE INTO leases (name, holder, expires_at) VALUES (?, ?, ?)",
                    (name, holder, now + ttl),
                )
                return True

        return await self._run(run)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._run(self._write("DELETE FROM leases WHERE name=? AND holder=?", (name, holder)))

    async def publish_in_flight(self, worker: str, counts: Mapping[str, int], ttl: float) -> dict[str, int]:
        data = orjson.dumps({k: v for k, v in counts.items() if v > 0})

        def run() -> dict[str, int]:
            now = time.time()
            with self._transaction(durable=False) as conn:
                conn.execute("DELETE FROM in_flight WHERE expires_at <= ?", (now,))
                conn.execute(
                    "INSERT OR REPLACE INTO in_flight (worker, counts, expires_at) VALUES (?, ?, ?)",
                    (worker, data, now + ttl),
                )
                rows = conn.execute("SELECT counts FROM in_flight WHERE worker != ?", (worker,)).fetchall()
            totals: dict[str, int] = {}
            for (blob,) in rows:
                for account_id, count in orjson.loads(blob).items():
                    totals[account_id] = totals.get(account_id, 0) + int(count)
            return totals

        return await self._run(run)

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
                areas=("cooldowns",),
            )
        )

    async def clear_cooldowns(self, account_id: str | None = None) -> None:
        if account_id is None:
            await self._run(self._write("DELETE FROM cooldowns", areas=("cooldowns",)))
        else:
            await self._run(
                self._write("DELETE FROM cooldowns WHERE account_id=?", (account_id,), areas=("cooldowns",))
            )

    # -- bindings ---------------------------------------------------------------------------------

    async def list_bindings(self, since: float = 0.0) -> dict[str, str]:
        rows = await self._run(
            self._read(
                "SELECT session_key, account_id FROM bindings WHERE updated_at >= ? "
                "ORDER BY updated_at, session_key",
                (since,),
            )
        )
        return {key: account_id for key, account_id in rows}

    async def get_binding(self, session_key: str) -> str | None:
        rows = await self._run(
            self._read("SELECT account_id FROM bindings WHERE session_key=?", (session_key,))
        )
        return str(rows[0][0]) if rows else None

    async def prune_bindings(self, *, older_than: float, max_rows: int) -> int:
        def run() -> int:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                removed = self._conn.execute(
                    "DELETE FROM bindings WHERE updated_at < ?", (older_than,)
                ).rowcount
                row = self._conn.execute(
                    "SELECT updated_at FROM bindings ORDER BY updated_at DESC LIMIT 1 OFFSET ?", (max_rows,)
                ).fetchone()
                if row is not None:
                    removed += self._conn.execute(
                        "DELETE FROM bindings WHERE updated_at <= ?", (row[0],)
                    ).rowcount
                return int(removed)

        return await self._run(run)

    async def save_binding(self, session_key: str, account_id: str) -> None:
        await self._run(
            self._write(
                "INSERT OR REPLACE INTO bindings (session_key, account_id, updated_at) VALUES (?, ?, ?)",
                (session_key, account_id, time.time()),
                areas=("bindings",),
            )
        )

    async def clear_bindings(self, account_id: str | None = None) -> None:
        if account_id is None:
            await self._run(self._write("DELETE FROM bindings", areas=("bindings_reset",)))
        else:
            await self._run(
                self._write(
                    "DELETE FROM bindings WHERE account_id=?", (account_id,), areas=("bindings_reset",)
                )
            )

    # -- model catalogs ---------------------------------------------------------------------------

    async def list_catalogs(self) -> list[Catalog]:
        rows = await self._run(self._read("SELECT account_id, data, fetched_at, summary FROM catalogs"))
        return [
            Catalog(account_id, orjson.loads(data), fetched_at, orjson.loads(summary) if summary else {})
            for account_id, data, fetched_at, summary in rows
        ]

    async def save_catalog(self, catalog: Catalog) -> None:
        await self._run(
            self._write(
                "INSERT OR REPLACE INTO catalogs (account_id, data, fetched_at, summary) VALUES (?, ?, ?, ?)",
                (
                    catalog.account_id,
                    orjson.dumps(catalog.data),
                    catalog.fetched_at,
                    orjson.dumps(catalog.summary),
                ),
                areas=("catalogs",),
            )
        )

    # -- short-lived records ----------------------------------------------------------------------

    async def put_record(self, kind: str, key: str, value: bytes, *, ttl: float, max_records: int) -> None:
        def run() -> None:
            now = time.time()
            with self._transaction(durable=False) as conn:
                conn.execute("DELETE FROM records WHERE kind=? AND expires_at <= ?", (kind, now))
                conn.execute(
                    "INSERT OR REPLACE INTO records (kind, key, value, expires_at, created_at) VALUES (?, ?, ?, ?, ?)",
                    (kind, key, value, now + ttl, now),
                )
                conn.execute(
                    "DELETE FROM records WHERE kind=? AND rowid NOT IN "
                    "(SELECT rowid FROM records WHERE kind=? ORDER BY created_at DESC, rowid DESC LIMIT ?)",
                    (kind, kind, max_records),
                )

        await self._run(run)

    async def get_record(self, kind: str, key: str) -> bytes | None:
        rows = await self._run(
            self._read(
                "SELECT value FROM records WHERE kind=? AND key=? AND expires_at > ?",
                (kind, key, time.time()),
            )
        )
        return bytes(rows[0][0]) if rows else None

    async def take_record(self, kind: str, key: str) -> bytes | None:
        def run() -> bytes | None:
            with self._transaction(durable=False) as conn:
                row = conn.execute(
                    "DELETE FROM records WHERE kind=? AND key=? RETURNING value, expires_at", (kind, key)
                ).fetchone()
            return bytes(row[0]) if row is not None and row[1] > time.time() else None

        return await self._run(run)

    async def list_records(self, kind: str) -> dict[str, bytes]:
        rows = await self._run(
            self._read(
                "SELECT key, value FROM records WHERE kind=? AND expires_at > ? ORDER BY created_at, rowid",
                (kind, time.time()),
            )
        )
        return {key: bytes(value) for key, value in rows}

    async def delete_records(self, kind: str, key: str | None = None) -> None:
        if key is None:
            await self._run(self._write("DELETE FROM records WHERE kind=?", (kind,)))
        else:
            await self._run(self._write("DELETE FROM records WHERE kind=? AND key=?", (kind, key)))

    # -- shared live settings ---------------------------------------------------------------------

    async def shared_settings(self) -> dict[str, Any]:
        """One AGW_HOME shares its config.toml: nothing more to share here."""
        return {}

    async def save_shared_settings(self, values: Mapping[str, Any]) -> None:
        raise NotImplementedError("one AGW_HOME shares its config.toml; shared settings need Redis")

    # -- user keys --------------------------------------------------------------------------------

    @staticmethod
    def _key(row: tuple[Any, ...]) -> ApiKey:
        values = dict(zip(_KEY_COLUMNS, row, strict=True))
        for column in _KEY_LISTS:
            values[column] = tuple(orjson.loads(values[column]))
        return ApiKey(**values)

    @staticmethod
    def _key_value(column: str, value: Any) -> Any:
        return orjson.dumps(list(value)).decode() if column in _KEY_LISTS else value

    async def list_keys(self) -> list[ApiKey]:
        rows = await self._run(
            self._read(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys ORDER BY created_at, name")
        )
        return [self._key(row) for row in rows]

    async def get_key(self, name: str) -> ApiKey | None:
        rows = await self._run(
            self._read(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys WHERE name=?", (name,))
        )
        return self._key(rows[0]) if rows else None

    async def create_key(self, key: ApiKey) -> None:
        values = tuple(self._key_value(c, getattr(key, c)) for c in _KEY_COLUMNS)
        sql = f"INSERT INTO api_keys ({', '.join(_KEY_COLUMNS)}) VALUES ({', '.join('?' for _ in _KEY_COLUMNS)})"

        def run() -> None:
            with self._transaction() as conn:
                conn.execute(sql, values)
                self._bump(conn, "keys")

        try:
            await self._run(run)
        except sqlite3.IntegrityError:
            raise ValueError(f"a key named {key.name!r} already exists") from None

    async def update_key(self, name: str, changes: Mapping[str, Any]) -> ApiKey | None:
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not writable key fields: {', '.join(sorted(unknown))}")
        values = tuple(self._key_value(c, v) for c, v in changes.items())
        assignments = ", ".join(f"{c}=?" for c in changes) or "name=name"

        def run() -> tuple[Any, ...] | None:
            with self._transaction() as conn:
                row = conn.execute(
                    f"UPDATE api_keys SET {assignments} WHERE name=? RETURNING {', '.join(_KEY_COLUMNS)}",
                    (*values, name),
                ).fetchone()
                if row is not None and changes:
                    self._bump(conn, "keys")
                return tuple(row) if row is not None else None

        row = await self._run(run)
        return self._key(row) if row is not None else None

    async def delete_key(self, name: str) -> bool:
        def run() -> bool:
            with self._transaction() as conn:
                found = conn.execute("DELETE FROM api_keys WHERE name=?", (name,)).rowcount > 0
                conn.execute("DELETE FROM key_requests WHERE name=?", (name,))
                conn.execute("DELETE FROM key_usage WHERE name=?", (name,))
                self._bump(conn, "keys")
                return found

        return await self._run(run)

    # -- user key counters ------------------------------------------------------------------------

    async def admit_key_request(
        self,
        name: str,
        request_id: str,
        *,
        rpm: int,
        concurrency: int,
        tokens_per_day: int,
        ttl: float,
        now: float | None = None,
    ) -> Admission:
        def run() -> Admission:
            at = time.time() if now is None else now
            start = at - RPM_WINDOW
            day = utc_day(at)
            # One BEGIN IMMEDIATE transaction: the write lock is taken before the counts are read, so no
            # other process (or connection) decides between this read and this write.
            with self._transaction(durable=False) as conn:
                conn.execute(
                    "DELETE FROM key_requests WHERE name=? AND started_at <= ? AND expires_at <= ?",
                    (name, start, at),
                )
                window, oldest = conn.execute(
                    "SELECT COUNT(*), MIN(started_at) FROM key_requests WHERE name=? AND started_at > ?",
                    (name, start),
                ).fetchone()
                (in_flight,) = conn.execute(
                    "SELECT COUNT(*) FROM key_requests WHERE name=? AND expires_at > ?", (name, at)
                ).fetchone()
                row = conn.execute(
                    "SELECT input_tokens + output_tokens FROM key_usage WHERE name=? AND day=?", (name, day)
                ).fetchone()
                tokens = int(row[0]) if row else 0
                limit: Limit = ""
                retry = 0.0
                if rpm and window >= rpm:
                    limit = "rpm"
                    (leaves,) = conn.execute(
                        "SELECT started_at FROM key_requests WHERE name=? AND started_at > ? "
                        "ORDER BY started_at LIMIT 1 OFFSET ?",
                        (name, start, window - rpm),
                    ).fetchone()
                    retry = leaves + RPM_WINDOW - at
                elif concurrency and in_flight >= concurrency:
                    limit, retry = "concurrency", 1.0
                elif tokens_per_day and tokens >= tokens_per_day:
                    limit, retry = "tokens_per_day", next_utc_midnight(at) - at
                if limit:
                    conn.execute(
                        "INSERT INTO key_usage (name, day, refused) VALUES (?, ?, 1) "
                        "ON CONFLICT(name, day) DO UPDATE SET refused = refused + 1",
                        (name, day),
                    )
                    reset = oldest + RPM_WINDOW - at if oldest is not None else 0.0
                    return Admission(limit, max(retry, 0.0), window, max(reset, 0.0), in_flight, tokens)
                conn.execute(
                    "INSERT OR REPLACE INTO key_requests (name, request_id, started_at, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (name, request_id, at, at + ttl),
                )
                reset = (oldest if oldest is not None else at) + RPM_WINDOW - at
                return Admission("", 0.0, window + 1, max(reset, 0.0), in_flight + 1, tokens)

        return await self._run(run)

    async def extend_key_requests(self, requests: Sequence[tuple[str, str]], ttl: float) -> None:
        if not requests:
            return

        def run() -> None:
            until = time.time() + ttl
            with self._transaction(durable=False) as conn:
                conn.executemany(
                    "UPDATE key_requests SET expires_at=? WHERE name=? AND request_id=? AND expires_at > 0",
                    [(until, name, request_id) for name, request_id in requests],
                )

        await self._run(run)

    async def release_key_request(self, name: str, request_id: str, usage: KeyUsage | None = None) -> None:
        def run() -> None:
            with self._transaction(durable=False) as conn:
                conn.execute(
                    "UPDATE key_requests SET expires_at=0 WHERE name=? AND request_id=?", (name, request_id)
                )
                if usage is None:
                    return
                conn.execute(
                    f"INSERT INTO key_usage ({', '.join(_USAGE_COLUMNS)}) VALUES "
                    f"({', '.join('?' for _ in _USAGE_COLUMNS)}) ON CONFLICT(name, day) DO UPDATE SET "
                    "requests = requests + excluded.requests, "
                    "input_tokens = input_tokens + excluded.input_tokens, "
                    "output_tokens = output_tokens + excluded.output_tokens, "
                    "errors = errors + excluded.errors, refused = refused + excluded.refused, "
                    "last_used_at = MAX(last_used_at, excluded.last_used_at)",
                    astuple(usage),
                )
                # Not a change of the key (no ``keys`` area): every request would reload every process.
                conn.execute(
                    "UPDATE api_keys SET last_used_at = MAX(last_used_at, ?) WHERE name=?",
                    (usage.last_used_at, name),
                )

        await self._run(run)

    async def key_usage(self, name: str | None = None, *, since_day: str = "") -> list[KeyUsage]:
        sql = f"SELECT {', '.join(_USAGE_COLUMNS)} FROM key_usage WHERE day >= ?"
        params: tuple[Any, ...] = (since_day,)
        if name is not None:
            sql += " AND name = ?"
            params += (name,)
        rows = await self._run(self._read(sql + " ORDER BY day, name", params))
        return [KeyUsage(*row) for row in rows]

    async def keys_in_flight(self) -> dict[str, int]:
        rows = await self._run(
            self._read(
                "SELECT name, COUNT(*) FROM key_requests WHERE expires_at > ? GROUP BY name", (time.time(),)
            )
        )
        return {name: int(count) for name, count in rows}

    # -- request log ------------------------------------------------------------------------------

    async def append_requests(self, records: list[RequestRecord]) -> None:
        rows = [r.row() for r in records]
        sql = f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)})"

        def run() -> None:
            with self._transaction(durable=False) as conn:
                conn.executemany(sql, rows)

        await self._run(run)

    def _record(self, row: tuple[Any, ...]) -> RequestRecord:
        values = dict(zip(["id", *_REQUEST_COLUMNS], row, strict=True))
        values["stream"] = bool(values["stream"])
        return RequestRecord(**values)

    async def query_requests(self, query: RequestQuery) -> list[RequestRecord]:
        where: list[str] = []
        params: list[Any] = []
        if query.before_id is not None:
            where.append("id < ?")
            params.append(query.before_id)
        if query.after_id is not None:
            where.append("id > ?")
            params.append(query.after_id)
        if query.model:
            where.append("(model = ? OR upstream_model = ?)")
            params += [query.model, query.model]
        if query.account:
            where.append("(account_id = ? OR account_email = ?)")
            params += [query.account, query.account]
        if query.protocol:
            where.append("protocol = ?")
            params.append(query.protocol)
        if query.key:
            where.append("key_name = ?")
            params.append(query.key)
        if query.errors_only:
            where.append("status >= 400")
        if query.since is not None:
            where.append("ts >= ?")
            params.append(query.since)
        sql = f"SELECT id, {', '.join(_REQUEST_COLUMNS)} FROM requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(1, min(query.limit, 10_000)))
        return [self._record(row) for row in await self._run(self._read(sql, tuple(params)))]

    async def get_request(self, request_id: int) -> RequestRecord | None:
        rows = await self._run(
            self._read(f"SELECT id, {', '.join(_REQUEST_COLUMNS)} FROM requests WHERE id = ?", (request_id,))
        )
        return self._record(rows[0]) if rows else None

    async def request_stats(self, *, since: float, bucket: str, group: str) -> list[dict[str, Any]]:
        width = 3600 if bucket == "hour" else 86400
        key = {
            "model": "COALESCE(NULLIF(upstream_model, ''), model)",
            "account": "account_email",
            "key": "key_name",
        }.get(group, "''")
        sql = (
            f"SELECT CAST(ts / {width} AS INTEGER) * {width} AS bucket, {key} AS key, COUNT(*), "
            "SUM(status >= 400), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), AVG(duration_ms), "
            "MAX(ts) FROM requests WHERE ts >= ? GROUP BY bucket, key ORDER BY bucket, key"
        )
        rows = await self._run(self._read(sql, (since,)))
        names = [
            "bucket",
            "key",
            "requests",
            "errors",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "avg_ms",
            "last_ts",
        ]
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def prune_requests(self, *, older_than: float, max_rows: int) -> int:
        def run() -> int:
            with self._transaction(durable=False) as conn:
                removed = conn.execute("DELETE FROM requests WHERE ts < ?", (older_than,)).rowcount
                row = conn.execute(
                    "SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?", (max_rows,)
                ).fetchone()
                if row is not None:
                    removed += conn.execute("DELETE FROM requests WHERE id <= ?", (row[0],)).rowcount
                return int(removed)

        return await self._run(run)
