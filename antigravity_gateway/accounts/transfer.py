"""Importing and exporting accounts in bulk.

The files are read first (:mod:`.imports`: every format, told apart by content); a file that cannot be
read stops the import before anything changes. Then the entries are merged by email (the newer token
first; an older token of the same account is tried only when the newer one fails) and each account is
checked end to end, as ``agw accounts add`` does. Labels, proxies and the disabled state are kept: the
file's when it has one, else the pool's. Export writes ``[{"email", "refresh_token"}]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.imports import ImportItem, ImportSkip, ReadResult
from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.config_file import config_lock, read_config, write_config
from antigravity_gateway.errors import GatewayError, ValidationRequired
from antigravity_gateway.settings import OAuthClient, Settings
from antigravity_gateway.store.base import Account, https_url
from antigravity_gateway.upstream.client import UpstreamHTTPError

Action = Literal["added", "updated", "skipped", "failed"]


@dataclass(slots=True, frozen=True)
class ImportResult:
    """What became of one entry. ``reason`` says why it was skipped or failed (never a token)."""

    source: str
    line: int
    action: Action
    email: str = ""
    reason: str = ""
    client: str = ""
    format: str = ""

    @property
    def place(self) -> str:
        """The file, and the line or entry when the file holds many."""
        return where(self.source, self.line, self.format)

    @property
    def ok(self) -> bool:
        return self.action in ("added", "updated")

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "line": self.line,
            "action": self.action,
            "ok": self.ok,
        }
        if self.email:
            data["email"] = self.email
        if self.ok:
            data["updated"] = self.action == "updated"
        if self.client:
            data["client"] = self.client
        if self.reason:
            data["reason"] = self.reason
            if self.action == "failed":
                data["error"] = self.reason
        return data


@dataclass(slots=True)
class Plan:
    """What to do, in the order of the files: results already known (skipped files, entries without a
    token) and groups of entries of one account to check (newest token first)."""

    steps: list[ImportResult | list[ImportItem]] = field(default_factory=list)
    clients: list[OAuthClient] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.steps)


def plan_import(read: ReadResult) -> Plan:
    """Merge the entries by email (or, without an email, by token); report entries without a token."""
    plan = Plan()
    groups: list[list[ImportItem]] = []
    for entry in read.entries:
        if isinstance(entry, ImportSkip):
            plan.steps.append(ImportResult(entry.source, entry.line, "skipped", reason=entry.reason))
            continue
        item = entry
        if not item.refresh_token:
            plan.steps.append(
                ImportResult(
                    item.source,
                    item.line,
                    "failed",
                    item.email,
                    "no refresh_token in this entry",
                    format=item.format,
                )
            )
            continue
        group = next(
            (
                g
                for g in groups
                if any(
                    i.refresh_token == item.refresh_token
                    or (item.email and i.email and i.email.lower() == item.email.lower())
                    for i in g
                )
            ),
            None,
        )
        if group is None:
            group = [item]
            groups.append(group)
            plan.steps.append(group)
        else:
            group.append(item)
        if item.oauth_client is not None and all(c.id != item.oauth_client.id for c in plan.clients):
            plan.clients.append(item.oauth_client)
    for group in groups:
        group.sort(key=lambda i: -i.issued_at)  # newest first; equal (or unknown) ages keep the file order
    return plan


def _first(group: list[ImportItem], attribute: str) -> Any:
    return next((getattr(i, attribute) for i in group if getattr(i, attribute)), None)


def where(source: str, line: int, fmt: str = "") -> str:
    """``file``, or ``file line N`` for an entry of a file of many entries."""
    multi = fmt in ("text", "json", "antigravity-tools export")
    return f"{source} line {line}" if line and multi else source


def _duplicates(group: list[ImportItem], chosen: ImportItem, email: str) -> list[ImportResult]:
    return [
        ImportResult(
            i.source,
            i.line,
            "skipped",
            email or i.email,
            format=i.format,
            reason=f"duplicate of {email or 'the same account'} in {where(chosen.source, chosen.line, chosen.format)}, whose token is newer or equal",
        )
        for i in group
        if i is not chosen
    ]


def dry_run(plan: Plan, accounts: list[Account]) -> list[ImportResult]:
    """What an import would do, without asking Google (so tokens are not checked)."""
    results: list[ImportResult] = []
    for step in plan.steps:
        if isinstance(step, ImportResult):
            results.append(step)
            continue
        group = step
        item = group[0]
        known = next(
            (
                a
                for a in accounts
                if (item.email and a.email.lower() == item.email.lower())
                or a.refresh_token == item.refresh_token
            ),
            None,
        )
        email = known.email if known is not None else item.email
        action: Action = "updated" if known is not None else "added"
        note = "" if email else "the email is known once Google checks the token"
        results.append(ImportResult(item.source, item.line, action, email, note, item.client, item.format))
        results.extend(_duplicates(group, item, email))
    return results


async def import_accounts(
    pool: AccountPool,
    plan: Plan,
    *,
    settings: Settings | None = None,
) -> AsyncIterator[ImportResult]:
    """Check and add each account in turn, yielding results as soon as they are known.

    A gcli2api file's own OAuth client is used for this run. With ``settings`` it is also written to
    ``oauth_clients`` in config.toml before the first of its accounts is checked (so that an account
    stored with it always finds it after a restart, even if the import is interrupted), and removed
    again at the end when none of its accounts was added.
    """
    new_clients = {
        c.id: c for c in plan.clients if all(c.id != o.id for o in pool.settings.all_oauth_clients)
    }
    pool.settings.oauth_clients = [*pool.settings.oauth_clients, *new_clients.values()]
    saved: set[str] = set()
    used: set[str] = set()
    catalog = ModelCatalog(pool)
    try:
        for step in plan.steps:
            if isinstance(step, ImportResult):
                yield step
                continue
            pending = [
                new_clients[i.client] for i in step if i.client in new_clients and i.client not in saved
            ]
            if pending and settings is not None:
                save_clients(settings, pending)
                saved.update(c.id for c in pending)
            for result in await _import_group(pool, catalog, step):
                if result.ok and result.client:
                    used.add(result.client)
                yield result
    finally:
        unused = [c for c in new_clients.values() if c.id not in used]
        pool.settings.oauth_clients = [c for c in pool.settings.oauth_clients if c not in unused]
        if settings is not None and any(c.id in saved for c in unused):
            remove_clients(settings, [c.id for c in unused if c.id in saved])


async def _import_group(
    pool: AccountPool, catalog: ModelCatalog, group: list[ImportItem]
) -> list[ImportResult]:
    errors: list[str] = []
    for item in group:
        previous = {a.email: (a.status, a.status_reason) for a in pool.accounts.values()}
        try:
            account = await pool.add(item.refresh_token, client=item.client)
        except ValidationRequired as exc:  # stored, set aside until the user verifies it
            link = https_url(exc.validation_url) or "the link Google gives"
            errors.append(f"{exc.message}; open {link}, then import or add it again")
            continue
        except (GatewayError, UpstreamHTTPError) as exc:
            errors.append(exc.message if isinstance(exc, GatewayError) else str(exc))
            continue
        # pool.add keeps the label of a known account and leaves its proxy alone; the file's win.
        account.label = _first(group, "label") or account.label
        account.proxy_url = _first(group, "proxy_url") or account.proxy_url
        status, status_reason = previous.get(account.email, ("", ""))
        if item.disabled:
            account.status = "disabled"
            account.status_reason = (
                item.disabled_reason or f"disabled in {item.format or 'the imported file'}"
            )
        elif status == "disabled":  # disabled by the user here: it stays so (a new token is no reason)
            account.status, account.status_reason = "disabled", status_reason
        await pool.save(account)
        if account.status == "enabled":
            with contextlib.suppress(GatewayError, UpstreamHTTPError):
                await catalog.refresh(account)
        action: Action = "updated" if account.email in previous else "added"
        reason = "" if item is group[0] else "the newer token failed: " + "; ".join(errors)
        return [
            ImportResult(
                item.source, item.line, action, account.email, reason, account.oauth_client_id, item.format
            ),
            *_duplicates(group, item, account.email),
        ]
    first = group[0]
    return [
        ImportResult(
            first.source,
            first.line,
            "failed",
            first.email,
            "; ".join(dict.fromkeys(errors)),
            format=first.format,
        ),
        *_duplicates(group, first, first.email),
    ]


def save_clients(settings: Settings, clients: list[OAuthClient]) -> None:
    """Append OAuth clients to ``oauth_clients`` in config.toml (kept across restarts)."""
    path = settings.home / "config.toml"
    with config_lock(path):
        data = read_config(path)
        current = [c for c in data.get("oauth_clients", []) if isinstance(c, dict)]
        for client in clients:
            if all(c.get("id") != client.id for c in current):
                current.append({"id": client.id, "secret": client.secret, "label": client.label})
        data["oauth_clients"] = current
        write_config(path, data)


def remove_clients(settings: Settings, client_ids: list[str]) -> None:
    """Take OAuth clients out of ``oauth_clients`` in config.toml again (none of their accounts came in)."""
    path = settings.home / "config.toml"
    with config_lock(path):
        data = read_config(path)
        kept = [
            c
            for c in data.get("oauth_clients", [])
            if not (isinstance(c, dict) and c.get("id") in client_ids)
        ]
        if kept:
            data["oauth_clients"] = kept
        else:
            data.pop("oauth_clients", None)
        write_config(path, data)


def export_accounts(pool: AccountPool) -> bytes:
    """``[{"email", "refresh_token"}]``: secrets, for moving accounts to another gateway."""
    rows = [{"email": a.email, "refresh_token": a.refresh_token} for a in pool.accounts.values()]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2)


__all__ = [
    "ImportResult",
    "ImportSkip",
    "Plan",
    "dry_run",
    "export_accounts",
    "import_accounts",
    "plan_import",
]
