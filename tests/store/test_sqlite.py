"""The SQLite store: what goes in comes out, atomically, with private permissions."""

from __future__ import annotations

import asyncio
import dataclasses
import stat
from pathlib import Path

from antigravity_gateway.store.base import REQUEST_COLUMNS, Account, RequestQuery, RequestRecord
from antigravity_gateway.store.sqlite import SQLiteStore


def test_request_record_row_matches_the_columns() -> None:
    names = [f.name for f in dataclasses.fields(RequestRecord) if f.name != "id"]
    assert list(REQUEST_COLUMNS) == names
    record = RequestRecord(protocol="gemini", status=200, input_tokens=3)
    assert record.row() == tuple(getattr(record, n) for n in names)


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "home" / "gateway.db"

    async def run() -> tuple[list[Account], list[RequestRecord]]:
        async with SQLiteStore(path) as store:
            await store.save_account(Account(email="a@example.com", refresh_token="1//a", label="x"))
            await store.append_requests([RequestRecord(model="m", status=200, stream=True, input_tokens=5)])
            return await store.list_accounts(), await store.query_requests(RequestQuery())

    accounts, records = asyncio.run(run())
    assert [(a.email, a.refresh_token, a.label) for a in accounts] == [("a@example.com", "1//a", "x")]
    assert [(r.model, r.status, r.stream, r.input_tokens) for r in records] == [("m", 200, True, 5)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
