"""Reading the account files of other tools (for ``agw accounts import``).

Each reader turns one file into :class:`ImportItem` values; nothing here talks to Google or writes
anything. Formats (field names from each project's public sources, see
``shared/reference/peers-formats-and-demands.md``):

- gemini-cli's ``~/.gemini/oauth_creds.json``: ``refresh_token`` and ``expiry_date`` (ms); profile
  ``gemini-cli``;
- Antigravity Tools' data folder (``$ABV_DATA_DIR`` or ``~/.antigravity_tools``): one
  ``accounts/<id>.json`` per account (``token.refresh_token``, ``token.expiry_timestamp`` (s),
  ``email``, ``project_id``, ``disabled``, a label) and its export ``{"accounts": [{email,
  refresh_token}]}``; profile ``antigravity``;
- CLIProxyAPI's ``~/.cli-proxy-api/antigravity-*.json`` (``type`` ``antigravity``, ``refresh_token``,
  ``email``, ``project_id``, ``disabled``, ``proxy_url``, ``timestamp`` (ms)); files of its other types
  share the folder and are skipped;
- gcli2api credential files (``client_id``, ``client_secret``, ``refresh_token``, ``expiry`` ISO),
  alone or in a ``.zip``: their OAuth client becomes a custom profile;
- a JSON array of ``{email, refresh_token}`` (what ``agw accounts export`` writes);
- any text with ``1//…`` refresh tokens.

Secrets stay out of every message: errors name the file and the problem, never its content.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson

from antigravity_gateway.accounts.profiles import ANTIGRAVITY, BUILTIN_PROFILES, GEMINI_CLI
from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.settings import OAuthClient

__all__ = [
    "FORMATS",
    "SOURCES",
    "ImportItem",
    "ImportSkip",
    "ReadResult",
    "UnreadableFile",
    "default_location",
    "read_paths",
    "read_text",
    "read_upload",
]

#: What the importer knows, for the error about a file it cannot read.
FORMATS: Final = (
    "gemini-cli oauth_creds.json",
    "an Antigravity Tools data folder, account file (accounts/<id>.json) or export",
    "CLIProxyAPI antigravity-*.json files (or their folder)",
    "gcli2api credential files (.json, or a .zip of them)",
    "a JSON array of {email, refresh_token} (agw accounts export)",
    "text with 1//... refresh tokens",
)

#: ``--from`` names and what they mean.
SOURCES: Final = {
    "gemini-cli": "~/.gemini/oauth_creds.json",
    "antigravity-tools": "$ABV_DATA_DIR, else ~/.antigravity_tools",
    "cliproxyapi": "~/.cli-proxy-api",
}

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
MAX_ZIP_MEMBERS: Final = 10_000
_TOKEN = re.compile(r"1//[0-9A-Za-z_\-]+")


class UnreadableFile(InvalidRequest):
    """A file the importer cannot read: the message names it and the formats it knows."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"cannot import {name}: {problem}. Known formats: " + "; ".join(FORMATS))


@dataclass(slots=True)
class ImportItem:
    """One account found in a file. ``source`` names the file (and the zip member); ``line`` is the line
    or entry number in it. ``issued_at`` (epoch seconds, 0 when unknown) says which of two tokens of one
    account is the newer. ``client`` is the profile (or client id) to try first."""

    source: str
    line: int
    refresh_token: str
    email: str = ""
    client: str = ""
    label: str = ""
    project_id: str = ""
    disabled: bool = False
    disabled_reason: str = ""
    proxy_url: str = ""
    issued_at: float = 0.0
    oauth_client: OAuthClient | None = field(default=None, repr=False)
    format: str = ""


@dataclass(slots=True, frozen=True)
class ImportSkip:
    """A file (or entry) that holds no account of ours, and why: reported as skipped."""

    source: str
    line: int
    reason: str


@dataclass(slots=True)
class ReadResult:
    """What the files hold, in the order of the files: accounts, and what was skipped."""

    entries: list[ImportItem | ImportSkip] = field(default_factory=list)

    @property
    def items(self) -> list[ImportItem]:
        return [e for e in self.entries if isinstance(e, ImportItem)]

    def extend(self, other: ReadResult) -> None:
        self.entries.extend(other.entries)


# -- default locations ---------------------------------------------------------------------------


def default_location(name: str) -> Path:
    """Where ``--from NAME`` looks. Raises InvalidRequest for an unknown name."""
    home = Path.home()
    if name == "gemini-cli":
        return home / ".gemini" / "oauth_creds.json"
    if name == "antigravity-tools":
        data_dir = os.environ.get("ABV_DATA_DIR", "").strip()
        return Path(data_dir).expanduser() if data_dir else home / ".antigravity_tools"
    if name == "cliproxyapi":
        return home / ".cli-proxy-api"
    raise InvalidRequest(f"unknown source {name!r}: use one of {', '.join(SOURCES)}")


def missing_hint(name: str) -> str:
    if name == "gemini-cli":
        return (
            " (gemini-cli keeps its login in the system keychain instead when "
            "GEMINI_FORCE_ENCRYPTED_FILE_STORAGE is set: that one cannot be imported)"
        )
    return ""


# -- reading paths -------------------------------------------------------------------------------


def read_paths(paths: list[Path]) -> ReadResult:
    """Every account of every file or folder in ``paths``. Raises :class:`UnreadableFile` on the first
    file it cannot read (before anything is imported)."""
    result = ReadResult()
    for path in paths:
        if path.is_dir():
            result.extend(_read_folder(path))
        elif path.is_file():
            result.extend(_read_file(path, explicit=True))
        else:
            raise UnreadableFile(str(path), "no such file or folder")
    return result


def _read_folder(folder: Path) -> ReadResult:
    result = ReadResult()
    if (folder / "accounts").is_dir() or (folder / "accounts.json").is_file():
        # Antigravity Tools' data folder: one file per account; the index and settings are not accounts.
        files = sorted((folder / "accounts").glob("*.json")) if (folder / "accounts").is_dir() else []
        if not files:
            raise UnreadableFile(str(folder), "an Antigravity Tools data folder without accounts/<id>.json")
        for path in files:
            result.extend(_read_file(path, explicit=True))
        return result
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".zip"))
    if not files:
        raise UnreadableFile(str(folder), "a folder without .json or .zip account files")
    for path in files:
        result.extend(_read_file(path, explicit=False))
    return result


def _read_file(path: Path, *, explicit: bool) -> ReadResult:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnreadableFile(name, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(name, exc.strerror or "it cannot be opened") from None
    return read_upload(name, data, explicit=explicit)


def read_upload(name: str, data: bytes, *, explicit: bool = True) -> ReadResult:
    """Accounts in one file's bytes: a .zip of credential files, or any other format."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(name, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        return _read_zip(name, data)
    return read_bytes(name, data, explicit=explicit)


def _read_zip(name: str, data: bytes) -> ReadResult:
    result = ReadResult()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile(name, "not a valid .zip file") from None
    with archive:
        members = [
            m
            for m in archive.infolist()
            if not m.is_dir()
            and not m.filename.startswith("__MACOSX/")
            and m.filename.lower().endswith(".json")
        ]
        if not members:
            raise UnreadableFile(name, "a .zip without .json credential files")
        if len(members) > MAX_ZIP_MEMBERS:
            raise UnreadableFile(name, f"a .zip of more than {MAX_ZIP_MEMBERS} files")
        for member in members:
            member_name = f"{name}:{member.filename}"
            if member.file_size > MAX_FILE_BYTES:
                raise UnreadableFile(member_name, "the file is too large")
            try:
                content = archive.read(member)
            except (zipfile.BadZipFile, OSError, RuntimeError):
                raise UnreadableFile(member_name, "it cannot be extracted") from None
            result.extend(read_bytes(member_name, content, explicit=True))
    return result


def read_text(name: str, text: str) -> ReadResult:
    """Accounts in pasted text (the dashboard): any format told apart by content."""
    return read_bytes(name, text.encode(), explicit=True)


def read_bytes(name: str, data: bytes, *, explicit: bool) -> ReadResult:
    """Accounts in one file's content. ``explicit``: the user named the file (an unknown format is an
    error); else it was found in a folder (an unknown format is skipped)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(name, "not a text file") from None
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise UnreadableFile(name, f"it looks like JSON but is not valid JSON ({exc})") from None
        return _read_json(name, value, explicit=explicit)
    tokens: list[ImportItem | ImportSkip] = [
        ImportItem(name, number, token, format="text")
        for number, line in enumerate(text.splitlines(), start=1)
        if not line.lstrip().startswith("#")
        for token in _TOKEN.findall(line)
    ]
    if not tokens:
        if not explicit:
            return ReadResult([ImportSkip(name, 0, "no account in a known format")])
        raise UnreadableFile(name, "no 1//... refresh token in it")
    return ReadResult(tokens)


# -- JSON formats --------------------------------------------------------------------------------


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _millis(value: Any) -> float:
    return _number(value) / 1000.0


def _iso(value: Any) -> float:
    text = _str(value)
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _read_json(name: str, value: Any, *, explicit: bool) -> ReadResult:
    if isinstance(value, list):
        result = ReadResult()
        for index, row in enumerate(value, start=1):
            result.extend(_read_entry(name, index, row, in_list=True))
        if not value:
            raise UnreadableFile(name, "an empty JSON array")
        return result
    if isinstance(value, dict):
        entry = _read_entry(name, 1, value, in_list=False)
        if entry.entries:
            return entry
    if not explicit:
        return ReadResult([ImportSkip(name, 0, "no account in a known format")])
    if isinstance(value, dict) and isinstance(value.get("accounts"), list):
        raise UnreadableFile(
            name, "Antigravity Tools' accounts.json index holds no tokens: import its folder"
        )
    raise UnreadableFile(name, "JSON of an unknown shape")


def _read_entry(name: str, index: int, row: Any, *, in_list: bool) -> ReadResult:
    """One JSON object: an account of any known format, an export, or (in a list) an entry to report."""
    if not isinstance(row, dict):
        if in_list:
            return ReadResult([ImportItem(name, index, "", format="json")])
        return ReadResult()
    # Antigravity Tools' export (and the index, which has no tokens: ignored by the caller).
    accounts = row.get("accounts")
    if isinstance(accounts, list) and any(isinstance(a, dict) and "refresh_token" in a for a in accounts):
        result = ReadResult()
        for number, account in enumerate(accounts, start=1):
            item = (
                _plain(name, number, account) if isinstance(account, dict) else ImportItem(name, number, "")
            )
            item.client, item.format = ANTIGRAVITY.name, "antigravity-tools export"
            result.entries.append(item)
        return result
    kind = _str(row.get("type"))
    # CLIProxyAPI: antigravity-<email>.json (other types share its folder).
    if kind and ("access_token" in row or "refresh_token" in row or "token" in row or "email" in row):
        if kind != "antigravity":
            return ReadResult(
                [ImportSkip(name, index, f"a CLIProxyAPI {kind!r} file, not an Antigravity account")]
            )
        item = _plain(name, index, row)
        item.client, item.format = ANTIGRAVITY.name, "cliproxyapi"
        item.label = _str(row.get("label")) or _str(row.get("note"))
        item.proxy_url = _str(row.get("proxy_url"))
        item.disabled = row.get("disabled") is True
        item.issued_at = _millis(row.get("timestamp")) or _iso(row.get("expired"))
        return ReadResult([item])
    # Antigravity Tools: accounts/<id>.json.
    token = row.get("token")
    if isinstance(token, dict) and ("refresh_token" in token or "access_token" in token):
        label = _str(row.get("custom_label")) or _str(row.get("label"))
        return ReadResult(
            [
                ImportItem(
                    name,
                    index,
                    _str(token.get("refresh_token")),
                    email=_str(row.get("email")) or _str(token.get("email")),
                    client=ANTIGRAVITY.name,
                    label=label,
                    project_id=_str(token.get("project_id")) or _str(row.get("project_id")),
                    disabled=row.get("disabled") is True,
                    disabled_reason=_str(row.get("disabled_reason")),
                    issued_at=_number(token.get("expiry_timestamp")),
                    format="antigravity-tools",
                )
            ]
        )
    # gcli2api: a credential carrying its own OAuth client.
    client_id, client_secret = _str(row.get("client_id")), _str(row.get("client_secret"))
    if client_id and "refresh_token" in row:
        item = _plain(name, index, row)
        item.format = "gcli2api"
        item.issued_at = _iso(row.get("expiry"))
        builtin = next((p for p in BUILTIN_PROFILES if p.client_id == client_id), None)
        if builtin is not None:
            item.client = builtin.name
        else:
            item.client = client_id
            item.oauth_client = OAuthClient(
                id=client_id, secret=client_secret, label=gcli2api_label(client_id)
            )
        return ReadResult([item])
    # gemini-cli: ~/.gemini/oauth_creds.json.
    if "refresh_token" in row and "expiry_date" in row:
        item = _plain(name, index, row)
        item.client, item.format = GEMINI_CLI.name, "gemini-cli"
        item.issued_at = _millis(row.get("expiry_date"))
        return ReadResult([item])
    if "refresh_token" in row or in_list:
        return ReadResult([_plain(name, index, row)])
    return ReadResult()


def _plain(name: str, index: int, row: dict[str, Any]) -> ImportItem:
    return ImportItem(
        name,
        index,
        _str(row.get("refresh_token")),
        email=_str(row.get("email")),
        label=_str(row.get("label")),
        project_id=_str(row.get("project_id")),
        disabled=row.get("disabled") is True,
        format="json",
    )


def gcli2api_label(client_id: str) -> str:
    """The profile name of a gcli2api file's own OAuth client: stable, and without the secret."""
    return "gcli2api-" + hashlib.sha256(client_id.encode()).hexdigest()[:8]
