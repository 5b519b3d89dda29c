"""What only the Redis store does: tokens encrypted in Redis, the durable local copy that seeds an empty
Redis (and never overwrites a seeded one), joining a pool, shared settings, and Redis unreachable (at
open: one error; later: degraded, flagged, then reconciled)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as sync_redis

from antigravity_gateway.errors import SecretKeyError, StoreUnavailable
from antigravity_gateway.keys.record import ApiKey
from antigravity_gateway.store.base import Account, Cooldown
from antigravity_gateway.store.crypto import PREFIX
from antigravity_gateway.store.redis import RedisStore
from antigravity_gateway.store.sqlite import SQLiteStore
from tests.redis_server import RedisServer

KEY = "correct horse battery staple 42"


def _store(url: str, home: Path, *, key: str = "", prefix: str = "agw:") -> RedisStore:
    return RedisStore(
        url, local=SQLiteStore(home / "gateway.db", secret_key=key), prefix=prefix, secret_key=key
    )


def _account(email: str = "a@example.com", **fields: object) -> Account:
    return Account(email=email, refresh_token="1//" + email.split("@")[0], **fields)  # type: ignore[arg-type]


async def _local(home: Path, key: str = "") -> list[Account]:
    async with SQLiteStore(home / "gateway.db", secret_key=key) as local:
        return await local.list_accounts()


async def test_tokens_are_encrypted_in_redis_and_a_wrong_or_missing_key_is_one_error(
    redis_url: str, tmp_path: Path
) -> None:
    async with _store(redis_url, tmp_path / "h1", key=KEY) as store:
        await store.save_account(_account(access_token="ya29.secret", proxy_url="http://u:pw@proxy:1"))
    raw = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    (account_key,) = [k for k in raw.keys("agw:account:*")]
    stored = raw.hgetall(account_key)
    assert all(stored[f].startswith(PREFIX) for f in ("refresh_token", "access_token", "proxy_url"))
    assert "1//a" not in str(raw.hgetall(account_key)) and KEY not in str(raw.hgetall("agw:meta"))
    raw.close()
    async with _store(redis_url, tmp_path / "h2", key=KEY) as store:  # another host, same key
        (account,) = await store.list_accounts()
        assert (account.refresh_token, account.access_token) == ("1//a", "ya29.secret")
    with pytest.raises(SecretKeyError, match="not the key"):
        async with _store(redis_url, tmp_path / "h3", key="another key"):
            pass
    with pytest.raises(SecretKeyError, match="AGW_SECRET_KEY"):
        async with _store(redis_url, tmp_path / "h4"):
            pass


async def test_plaintext_tokens_in_redis_are_encrypted_when_a_key_is_set(
    redis_url: str, tmp_path: Path
) -> None:
    async with _store(redis_url, tmp_path / "h1") as store:
        await store.save_account(_account(access_token="ya29.x"))
    async with _store(redis_url, tmp_path / "h1", key=KEY) as store:
        (account,) = await store.list_accounts()
        assert account.access_token == "ya29.x"
    raw = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.hget(f"agw:account:{account.id}", "refresh_token").startswith(PREFIX)
    raw.close()


async def test_every_account_write_reaches_the_local_copy(redis_url: str, tmp_path: Path) -> None:
    h1, h2 = tmp_path / "h1", tmp_path / "h2"
    async with _store(redis_url, h1) as one, _store(redis_url, h2) as two:
        a = _account("a@example.com")
        await one.save_account(a)
        await one.update_account(a.id, {"refresh_token": "1//rotated"}, expect_token_version=a.token_version)
        assert [x.refresh_token for x in await _local(h1)] == ["1//rotated"]
        # host 2 learns it when it reads the pool (its syncer does after changes() says "accounts")
        await two.list_accounts()
        assert [x.refresh_token for x in await _local(h2)] == ["1//rotated"]
        await one.delete_account(a.id)
        assert await _local(h1) == []
        await two.list_accounts()
        assert await _local(h2) == []


async def test_an_empty_redis_is_seeded_from_the_local_copy(
    redis_url: str, redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "h1"
    async with _store(redis_url, home, key=KEY) as store:
        a = _account("a@example.com", label="kept")
        await store.save_account(a)
        await store.update_account(a.id, {"refresh_token": "1//rotated"})
        await store.changes()
        redis_server.command("FLUSHALL")  # Redis restarted without persistence
        with caplog.at_level(logging.WARNING):
            areas = await store.changes()
        assert "accounts" in areas
        assert "seeded 1 account(s) from the local copy" in caplog.text
        (seeded,) = await store.list_accounts()
        assert (seeded.id, seeded.label, seeded.refresh_token) == (a.id, "kept", "1//rotated")
    # a host that starts later on the flushed-and-seeded Redis uses it (and its key check) as is
    redis_server.command("FLUSHALL")
    async with _store(redis_url, tmp_path / "h2", key=KEY) as other:
        assert await other.list_accounts() == []  # h2 had nothing to seed
    async with _store(redis_url, home, key=KEY) as store:  # the pool is seeded: h1 does not push
        assert await store.list_accounts() == []


async def test_a_host_with_an_old_copy_never_overwrites_the_pool(redis_url: str, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    async with _store(redis_url, old) as store:
        a = _account()
        await store.save_account(a)  # both hosts know the account with its first refresh token
    async with _store(redis_url, new) as store:
        await store.update_account(a.id, {"refresh_token": "1//rotated-1"})
        await store.update_account(a.id, {"refresh_token": "1//rotated-2"})
    assert [x.refresh_token for x in await _local(old)] == ["1//a"]  # the old host was down meanwhile
    async with _store(redis_url, old) as store:
        assert [x.refresh_token for x in await store.list_accounts()] == ["1//rotated-2"]
    assert [x.refresh_token for x in await _local(old)] == ["1//rotated-2"]


async def test_a_host_that_ran_alone_adds_its_accounts_when_it_joins(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    async with _store(redis_url, first) as store:
        await store.save_account(_account("shared@example.com"))
    async with SQLiteStore(second / "gateway.db") as alone:  # the second host, before Redis
        await alone.save_account(_account("shared@example.com"))  # also known to the pool, by email
        await alone.save_account(_account("own@example.com"))
    with caplog.at_level(logging.WARNING):
        async with _store(redis_url, second) as store:
            assert sorted(a.email for a in await store.list_accounts()) == [
                "own@example.com",
                "shared@example.com",
            ]
    assert "added 1 account(s) of the local store" in caplog.text
    assert sorted(a.email for a in await _local(second)) == ["own@example.com", "shared@example.com"]


async def test_shared_settings_round_trip_with_secrets_encrypted(redis_url: str, tmp_path: Path) -> None:
    async with (
        _store(redis_url, tmp_path / "h1", key=KEY) as one,
        _store(redis_url, tmp_path / "h2", key=KEY) as two,
    ):
        assert await one.shared_settings() == {}
        await one.changes()
        await two.changes()
        await one.save_shared_settings(
            {"api_key": "sk-shared", "scheduling_mode": "performance", "model_mapping": {"a": "b"}}
        )
        assert await two.changes() == {"settings"}
        assert await two.shared_settings() == {
            "api_key": "sk-shared",
            "scheduling_mode": "performance",
            "model_mapping": {"a": "b"},
        }
        raw = sync_redis.Redis.from_url(redis_url, decode_responses=True)
        assert "sk-shared" not in str(raw.hgetall("agw:settings"))
        raw.close()


async def test_prefixes_keep_pools_apart(redis_url: str, tmp_path: Path) -> None:
    async with (
        _store(redis_url, tmp_path / "h1", prefix="one:") as one,
        _store(redis_url, tmp_path / "h2", prefix="two:") as two,
    ):
        await one.save_account(_account())
        assert await two.list_accounts() == []


async def test_unreachable_at_open_is_one_error_with_the_password_redacted(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        async with _store(url, tmp_path):
            pass
    assert time.monotonic() - started < 10
    assert "hunter2secret" not in info.value.message and "redis://:***@127.0.0.1" in info.value.message
    assert info.value.status == 503


async def test_outage_degrades_flags_and_reconciles(
    redis_factory: Callable[[], RedisServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_factory()
    async with _store(server.url, tmp_path / "h1") as store, _store(server.url, tmp_path / "h2") as other:
        a = _account()
        await store.save_account(a)
        await store.changes()
        await other.changes()
        server.kill()
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            assert await store.changes() == set()
            # log-like writes do not fail (kept for later); reads and account writes are a clear 503
            await store.save_cooldown(Cooldown(a.id, "m", time.time() + 600, "rate_limited"))
            await store.save_binding("conv", a.id)
            assert await store.publish_in_flight("w", {a.id: 1}, 30) == {}
            with pytest.raises(StoreUnavailable, match="unreachable"):
                await store.acquire_lease("refresh:" + a.id, "me", 30)
            with pytest.raises(StoreUnavailable):
                await store.list_accounts()
            assert time.monotonic() - started < 10
        assert store.health()["ok"] is False and "error" in store.health()
        assert caplog.text.count("is unreachable") == 1  # one warning per outage
        server.start()  # the same port, empty: no persistence in the tests
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            areas = await store.changes()
        assert areas == {
            "accounts",
            "cooldowns",
            "bindings",
            "bindings_reset",
            "catalogs",
            "settings",
            "keys",
        }
        assert store.health()["ok"] is True
        assert "reachable again" in caplog.text and "seeded 1 account(s)" in caplog.text
        # the other host sees the pool again, with what the first one learned during the outage
        assert "accounts" in await other.changes()
        assert [x.id for x in await other.list_accounts()] == [a.id]
        assert [(c.account_id, c.model) for c in await other.list_cooldowns()] == [(a.id, "m")]
        assert await other.list_bindings() == {"conv": a.id}


async def test_records_are_encrypted_with_a_key(redis_url: str, tmp_path: Path) -> None:
    async with _store(redis_url, tmp_path / "h1", key=KEY) as store:
        await store.put_record("login", "state", b"pkce-verifier-secret", ttl=60, max_records=10)
        raw = sync_redis.Redis.from_url(redis_url, decode_responses=True)
        value = raw.get("agw:rec:login:state")
        raw.close()
        assert value.startswith(PREFIX) and "pkce" not in value
        assert await store.take_record("login", "state") == b"pkce-verifier-secret"


async def test_user_keys_have_a_local_copy_that_seeds_an_empty_redis_and_joins(
    redis_url: str, redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "h1"
    async with _store(redis_url, home) as store:
        await store.create_key(ApiKey(name="ada", prefix="agw-aaaaaa", secret_hash="a" * 64, rpm=5))
        await store.update_key("ada", {"note": "kept"})
        await store.create_key(ApiKey(name="gone", prefix="agw-gggggg", secret_hash="9" * 64))
        await store.delete_key("gone")
        await store.changes()
        redis_server.command("FLUSHALL")  # Redis restarted without persistence
        with caplog.at_level(logging.WARNING):
            areas = await store.changes()
        assert "keys" in areas and "seeded 1 from the local copy" in caplog.text
        (seeded,) = await store.list_keys()
        assert (seeded.name, seeded.rpm, seeded.note, seeded.secret_hash) == ("ada", 5, "kept", "a" * 64)
    async with SQLiteStore(tmp_path / "h2" / "gateway.db") as alone:  # a host that ran on its own
        await alone.create_key(ApiKey(name="bob", prefix="agw-bbbbbb", secret_hash="b" * 64))
        await alone.create_key(ApiKey(name="ada", prefix="agw-other0", secret_hash="c" * 64))  # taken
    with caplog.at_level(logging.WARNING):
        async with _store(redis_url, tmp_path / "h2") as other:
            assert [(k.name, k.secret_hash[0]) for k in await other.list_keys()] == [
                ("ada", "a"),
                ("bob", "b"),
            ]
    assert "added 1 user key(s) of the local store" in caplog.text
    async with SQLiteStore(tmp_path / "h2" / "gateway.db") as copy:  # its copy is the pool's now
        assert [(k.name, k.secret_hash[0]) for k in await copy.list_keys()] == [("ada", "a"), ("bob", "b")]
