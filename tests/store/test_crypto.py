"""Secrets at rest: with a secret key the tokens are encrypted in the database, both ways of migrating
work, and a missing or wrong key is one clear error, never ciphertext used as a token."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import types
from pathlib import Path

import pytest

from antigravity_gateway.errors import SecretKeyError
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account, RequestRecord
from antigravity_gateway.store.crypto import PREFIX, TokenCipher, new_salt, resolve_secret_key
from antigravity_gateway.store.sqlite import SQLiteStore

KEY = "correct horse battery staple 42"
REFRESH = "1//0g-very-secret-refresh-token"
ACCESS = "ya29.very-secret-access-token"


def _save(path: Path, key: str = "", **fields: str) -> None:
    async def run() -> None:
        async with SQLiteStore(path, secret_key=key) as store:
            await store.save_account(
                Account(email="a@example.com", refresh_token=REFRESH, access_token=ACCESS, **fields)
            )

    asyncio.run(run())


def _list(path: Path, key: str = "") -> list[Account]:
    async def run() -> list[Account]:
        async with SQLiteStore(path, secret_key=key) as store:
            return await store.list_accounts()

    return asyncio.run(run())


def _raw_tokens(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT refresh_token, access_token FROM accounts").fetchall()


def _on_disk(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_tokens_are_encrypted_on_disk_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    ((refresh, access),) = _raw_tokens(db)
    assert refresh.startswith(PREFIX) and access.startswith(PREFIX)
    data = _on_disk(db)  # the database and its WAL: no plaintext copy anywhere
    assert REFRESH.encode() not in data and ACCESS.encode() not in data and KEY.encode() not in data
    (account,) = _list(db, KEY)
    assert (account.refresh_token, account.access_token) == (REFRESH, ACCESS)


def test_empty_access_token_stays_empty(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"

    async def run() -> None:
        async with SQLiteStore(db, secret_key=KEY) as store:
            await store.save_account(Account(email="a@example.com", refresh_token=REFRESH))

    asyncio.run(run())
    ((refresh, access),) = _raw_tokens(db)
    assert refresh.startswith(PREFIX) and access == ""
    assert _list(db, KEY)[0].access_token == ""


def test_plaintext_rows_are_encrypted_when_a_key_is_set(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db)  # an existing store, made before the key
    assert _raw_tokens(db) == [(REFRESH, ACCESS)]
    (account,) = _list(db, KEY)  # opening with the key migrates it
    assert (account.refresh_token, account.access_token) == (REFRESH, ACCESS)
    ((refresh, access),) = _raw_tokens(db)
    assert refresh.startswith(PREFIX) and access.startswith(PREFIX)
    assert REFRESH.encode() not in _on_disk(db)


def test_without_the_key_an_encrypted_store_refuses_to_open(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    with pytest.raises(SecretKeyError, match="AGW_SECRET_KEY") as caught:
        _list(db)
    assert "encrypted" in caught.value.message and str(db) in caught.value.message
    assert KEY not in caught.value.message


def test_a_store_whose_accounts_are_all_gone_still_needs_its_key(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM accounts")
    with pytest.raises(SecretKeyError, match="AGW_SECRET_KEY"):
        _list(db)  # else new tokens would silently be stored in plaintext


def test_a_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    wrong = "not the right passphrase"
    with pytest.raises(SecretKeyError, match="AGW_SECRET_KEY is not the key") as caught:
        _list(db, wrong)
    assert wrong not in caught.value.message and KEY not in caught.value.message
    assert _list(db, KEY)[0].refresh_token == REFRESH  # nothing was damaged


def test_decrypt_brings_plaintext_back_and_the_store_opens_without_a_key(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)

    async def decrypt() -> tuple[int, bool]:
        async with SQLiteStore(db, secret_key=KEY) as store:
            count = await store.decrypt_tokens()
            await store.save_account(Account(email="b@example.com", refresh_token="1//b"))
            return count, store.encrypted

    assert asyncio.run(decrypt()) == (1, False)
    assert sorted(_raw_tokens(db)) == sorted([("1//b", ""), (REFRESH, ACCESS)])
    assert {a.email for a in _list(db)} == {"a@example.com", "b@example.com"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT key FROM meta").fetchall() == []


def test_decrypt_needs_the_key(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db)

    async def decrypt() -> int:
        async with SQLiteStore(db) as store:
            return await store.decrypt_tokens()

    with pytest.raises(SecretKeyError, match="without AGW_SECRET_KEY"):
        asyncio.run(decrypt())


def test_ciphertext_is_never_handed_out_as_a_token(tmp_path: Path) -> None:
    """A keyless process that opened the store before another one encrypted it fails loudly."""
    db = tmp_path / "gateway.db"
    _save(db)

    async def run() -> None:
        async with SQLiteStore(db) as keyless:
            assert (await keyless.list_accounts())[0].refresh_token == REFRESH
            async with SQLiteStore(db, secret_key=KEY):
                pass  # another process opens it with a key: rows encrypted
            with pytest.raises(SecretKeyError, match="AGW_SECRET_KEY"):
                await keyless.list_accounts()

    asyncio.run(run())


def test_a_damaged_token_is_an_error_not_garbage(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE accounts SET refresh_token = ?", (PREFIX + "gAAAAAbroken",))
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        _list(db, KEY)


def test_cipher_round_trip_and_key_check() -> None:
    salt = new_salt()
    cipher = TokenCipher(KEY, salt)
    token = cipher.encrypt(REFRESH)
    assert token != cipher.encrypt(REFRESH)  # random IV: equal tokens do not look equal on disk
    assert cipher.decrypt(token) == REFRESH and cipher.encrypt(token) == token
    assert cipher.verify(cipher.check_value())
    assert not TokenCipher("other", salt).verify(cipher.check_value())
    assert not TokenCipher(KEY, new_salt()).verify(cipher.check_value())


# -- where the key comes from -------------------------------------------------------------------------


def _settings(tmp_path: Path, key: str) -> Settings:
    return Settings(home=tmp_path, secret_key=key)


def test_the_key_comes_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_secret_key(_settings(tmp_path, "")) == ""
    monkeypatch.setenv("AGW_SECRET_KEY", KEY)
    settings = Settings(home=tmp_path)
    assert resolve_secret_key(settings) == KEY
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def _fake_keyring(monkeypatch: pytest.MonkeyPatch, get_password: object) -> None:
    module = types.ModuleType("keyring")
    module.get_password = get_password  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)


def test_keyring_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str]] = []

    def get_password(service: str, name: str) -> str:
        asked.append((service, name))
        return KEY

    _fake_keyring(monkeypatch, get_password)
    assert resolve_secret_key(_settings(tmp_path, "keyring")) == KEY
    assert asked == [("antigravity-gateway", "secret_key")]


def test_keyring_problems_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path, "keyring")
    monkeypatch.setitem(sys.modules, "keyring", None)  # not installed
    with pytest.raises(SecretKeyError, match="needs the 'keyring' package"):
        resolve_secret_key(settings)
    _fake_keyring(monkeypatch, lambda service, name: None)
    with pytest.raises(SecretKeyError, match="has no entry 'secret_key'"):
        resolve_secret_key(settings)

    def broken(service: str, name: str) -> str:
        raise RuntimeError("no D-Bus session")

    _fake_keyring(monkeypatch, broken)
    with pytest.raises(SecretKeyError, match="could not be read"):
        resolve_secret_key(settings)


# -- durability -----------------------------------------------------------------------------------------


def test_token_writes_commit_with_synchronous_full(tmp_path: Path) -> None:
    """Account writes (a rotated refresh token) survive a power loss; log-like writes need not."""
    db = tmp_path / "gateway.db"

    async def run() -> list[tuple[str, int]]:
        commits: list[tuple[str, int]] = []
        async with SQLiteStore(db, secret_key=KEY) as store:
            conn = store._conn
            assert conn is not None
            last: list[str] = []

            def trace(sql: str) -> None:
                if written := re.match(r"(?:INSERT(?: OR \w+)? INTO|DELETE FROM|UPDATE) (\w+)", sql):
                    last.append(written[1])
                elif sql.startswith("COMMIT") and last:
                    mode = conn.execute("PRAGMA synchronous").fetchone()[0]
                    commits.append((next(t for t in last if t != "versions"), mode))
                    last.clear()

            await store._run(lambda: conn.set_trace_callback(trace))
            await store.save_account(Account(email="a@example.com", refresh_token=REFRESH))
            await store.append_requests([RequestRecord(model="m", status=200)])
            await store.save_binding("conv", "id")
            await store.delete_account("id")
            await store.decrypt_tokens()
            await store._run(lambda: conn.set_trace_callback(None))
        return commits

    FULL, NORMAL = 2, 1
    assert asyncio.run(run()) == [
        ("accounts", FULL),
        ("requests", NORMAL),
        ("bindings", NORMAL),
        ("accounts", FULL),  # delete_account: the first of its four deletes
        ("accounts", FULL),  # decrypt_tokens
    ]


def test_opening_an_encrypted_store_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """A command opening the store (key check, scrypt) must not hold up, or wait on, a running gateway."""
    db = tmp_path / "gateway.db"
    _save(db, KEY)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process is in the middle of a write
        (account,) = _list(db, KEY)  # needs no write lock: opens at once (else "database is locked")
        assert account.refresh_token == REFRESH
    finally:
        writer.execute("ROLLBACK")
        writer.close()
