"""Importing and exporting accounts in bulk.

Import takes refresh tokens one per line (blank lines and ``#`` comments skipped) or a JSON array of
``{"email", "refresh_token"}`` objects (told apart by content). Export writes that same JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import GatewayError, InvalidRequest
from antigravity_gateway.upstream.client import UpstreamHTTPError


@dataclass(slots=True, frozen=True)
class ImportItem:
    line: int
    refresh_token: str
    email: str = ""


@dataclass(slots=True, frozen=True)
class ImportResult:
    line: int
    ok: bool
    email: str = ""
    updated: bool = False
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"line": self.line, "ok": self.ok}
        if self.email:
            data["email"] = self.email
        if self.ok:
            data["updated"] = self.updated
        if self.error:
            data["error"] = self.error
        return data


def parse_import(text: str) -> list[ImportItem]:
    """Items from a file's content. Raises InvalidRequest when a JSON file is malformed."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            rows = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the file looks like JSON but is not valid JSON: {exc}") from None
        items = []
        for index, row in enumerate(rows, start=1):
            if isinstance(row, dict) and isinstance(row.get("refresh_token"), str):
                items.append(ImportItem(index, row["refresh_token"].strip(), str(row.get("email") or "")))
            else:
                email = str(row.get("email") or "") if isinstance(row, dict) else ""
                items.append(ImportItem(index, "", email))
        return items
    return [
        ImportItem(number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]


async def import_accounts(pool: AccountPool, items: list[ImportItem]) -> AsyncIterator[ImportResult]:
    """Add each item in turn (yielding its result as soon as it is known). Known emails are updated."""
    catalog = ModelCatalog(pool)
    for item in items:
        if not item.refresh_token:
            yield ImportResult(item.line, False, item.email, error="no refresh_token in this entry")
            continue
        known = {a.email for a in pool.accounts.values()}
        try:
            account = await pool.add(item.refresh_token)
        except (GatewayError, UpstreamHTTPError) as exc:
            message = exc.message if isinstance(exc, GatewayError) else str(exc)
            yield ImportResult(item.line, False, item.email, error=message)
            continue
        try:
            await catalog.refresh(account)
        except (GatewayError, UpstreamHTTPError):
            pass  # the account works; its quota is fetched again later
        yield ImportResult(item.line, True, account.email, updated=account.email in known)


def export_accounts(pool: AccountPool) -> bytes:
    """``[{"email", "refresh_token"}]``: secrets, for moving accounts to another gateway."""
    rows = [{"email": a.email, "refresh_token": a.refresh_token} for a in pool.accounts.values()]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2)
