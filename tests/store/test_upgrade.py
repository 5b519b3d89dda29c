"""The store upgrades a database made by an earlier release in place, keeping its data."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from antigravity_gateway.store.base import Account, RequestQuery, RequestRecord
from antigravity_gateway.store.sqlite import SQLiteStore

#: The schema of release 0.1.0, written out as it was (not derived from the code, which moves on).
SCHEMA_0_1 = """
CREATE TABLE accounts (
    email, refresh_token, id TEXT PRIMARY KEY, access_token, access_token_expires_at, oauth_client_id,
    project_id, tier_id, tier_name, status, status_reason, status_until, validation_url, label,
    priority, created_at, last_used_at
);
CREATE UNIQUE INDEX accounts_email ON accounts(email);
CREATE TABLE cooldowns (
    account_id TEXT NOT NULL, model TEXT NOT NULL, until REAL NOT NULL, reason TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '', PRIMARY KEY (account_id, model)
);
CREATE TABLE bindings (session_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE catalogs (account_id TEXT PRIMARY KEY, data BLOB NOT NULL, fetched_at REAL NOT NULL, summary BLOB);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL, protocol TEXT, path TEXT, model TEXT, upstream_model TEXT, account_id TEXT,
    account_email TEXT, status INTEGER, duration_ms REAL, ttfb_ms REAL, input_tokens INTEGER,
    output_tokens INTEGER, cached_tokens INTEGER, attempts INTEGER, stream INTEGER, error TEXT,
    request_body BLOB, response_body BLOB
);
CREATE INDEX requests_ts ON requests(ts);
"""


def _old_database(path: Path, schema: str) -> None:
    path.parent.mkdir(parents=True, mode=0o700)
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(accounts)")]
    values = {
        "email": "old@example.com",
        "refresh_token": "1//old",
        "id": "acc-old",
        "project_id": "p-1",
        "status": "enabled",
        "label": "kept",
        "priority": 2,
        "created_at": 1.0,
    }
    row = {
        c: values.get(c, "" if c not in ("access_token_expires_at", "status_until", "last_used_at") else 0.0)
        for c in columns
    }
    conn.execute(
        f"INSERT INTO accounts ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values())
    )
    conn.execute(
        "INSERT INTO requests (ts, protocol, model, status, duration_ms) VALUES (?, 'gemini', 'gemini-2.5-flash', 200, 12.5)",
        (time.time(),),
    )
    conn.execute(
        "INSERT INTO cooldowns (account_id, model, until, reason) VALUES ('acc-old', 'm', ?, 'rate_limited')",
        (time.time() + 60,),
    )
    conn.commit()
    conn.close()


async def _use(path: Path) -> tuple[list[Account], list[RequestRecord]]:
    async with SQLiteStore(path) as store:
        accounts = await store.list_accounts()
        await store.save_account(Account(email="new@example.com", refresh_token="1//new"))
        await store.append_requests([RequestRecord(model="m2", status=500, error="boom")])
        cooldowns = await store.list_cooldowns()
        assert [c.account_id for c in cooldowns] == ["acc-old"]
        return accounts, await store.query_requests(RequestQuery())


def test_a_0_1_database_opens_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "home" / "gateway.db"
    _old_database(path, SCHEMA_0_1)
    accounts, records = asyncio.run(_use(path))
    (old,) = accounts
    assert (old.id, old.email, old.refresh_token, old.label, old.priority) == (
        "acc-old",
        "old@example.com",
        "1//old",
        "kept",
        2,
    )
    assert [(r.model, r.status) for r in records] == [("m2", 500), ("gemini-2.5-flash", 200)]
    again, _ = asyncio.run(_use_twice(path))
    assert {a.email for a in again} == {"old@example.com", "new@example.com"}


async def _use_twice(path: Path) -> tuple[list[Account], None]:
    async with SQLiteStore(path) as store:
        return await store.list_accounts(), None


def test_columns_added_since_get_their_defaults(tmp_path: Path) -> None:
    """An older database still (label, priority, last_used_at, the catalog's summary and the
    cooldown's message did not exist): the columns are added, the rows keep their values."""
    older = (
        SCHEMA_0_1.replace(" label,\n    priority, created_at, last_used_at", "\n    created_at")
        .replace(", summary BLOB", "")
        .replace(",\n    message TEXT NOT NULL DEFAULT ''", "")
    )
    assert "label" not in older and "summary" not in older and "message" not in older
    path = tmp_path / "home" / "gateway.db"
    _old_database(path, older)
    accounts, _ = asyncio.run(_use(path))
    (old,) = accounts
    assert (old.email, old.label, old.priority, old.last_used_at) == ("old@example.com", "", 0, 0.0)
