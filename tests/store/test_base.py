"""Records of the store: an account's verification link is a plain https link or nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from antigravity_gateway.store.base import Account, https_url
from antigravity_gateway.store.sqlite import SQLiteStore

GOOGLE = "https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbt"


@pytest.mark.parametrize(
    "url",
    [GOOGLE, "https://example.com", "https://support.google.com/a/answer/1?hl=en#x", "https://[::1]:8443/p"],
)
def test_https_links_are_kept(url: str) -> None:
    assert https_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "http://accounts.google.com/verify",
        "//evil.example/verify",
        "/relative/path",
        "https:evil.example",
        "https://",
        "https:///path",
        "https://user:pass@evil.example/",
        "https://evil.example\\@accounts.google.com/",
        'https://accounts.google.com/"onmouseover="alert(1)',
        "https://accounts.google.com/<script>",
        "https://accounts.google.com:99999/",
        "https://accounts.google.com/\nSet-Cookie: x",
        "https://a.example/" + "x" * 5000,
        "ftp://files.example/x",
    ],
)
def test_anything_else_is_dropped(url: str) -> None:
    assert https_url(url) == ""


def test_account_keeps_only_https_links_also_from_old_rows(tmp_path: Path) -> None:
    account = Account(email="a@example.com", refresh_token="1//a", validation_url="javascript:alert(1)")
    assert account.validation_url == "" and account.public_dict()["validation_url"] is None
    account.validation_url = "data:text/html,x"  # set after construction: the public view still filters
    assert account.public_dict()["validation_url"] is None
    account.validation_url = GOOGLE
    assert account.public_dict()["validation_url"] == GOOGLE

    db = tmp_path / "gateway.db"

    async def run() -> list[Account]:
        async with SQLiteStore(db) as store:
            await store.save_account(Account(email="b@example.com", refresh_token="1//b"))
            with sqlite3.connect(db) as conn:  # a row written by an older version, or by hand
                conn.execute("UPDATE accounts SET validation_url = 'javascript:alert(1)'")
            return await store.list_accounts()

    (loaded,) = asyncio.run(run())
    assert loaded.validation_url == "" and loaded.public_dict()["validation_url"] is None
