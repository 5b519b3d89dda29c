"""Redis implementation of :class:`~antigravity_gateway.store.base.Store`: one pool for several hosts.

Every host (and every worker, every ``agw`` command) that opens the same Redis URL and prefix sees one
pool: accounts and their tokens, cooldowns, conversation bindings, requests in flight, model catalogs
and the live settings. The request log stays in each host's own SQLite store (``AGW_HOME/gateway.db``):
the request log and stats are per host.

Keys, under ``redis_prefix`` (``P``, default ``agw:``)::

    P meta                  hash   seeded (the pool's epoch: set once the pool is seeded, see below),
                                   kdf_salt + key_check (token encryption, see store/crypto.py)
    P changes               hash   area -> write counter, bumped in the same script/MULTI as each write
                                   (``changes()`` compares them with the values it saw last)
    P accounts              set    account ids
    P account:<id>          hash   the Account's fields as strings (tokens encrypted with a secret key)
    P emails                hash   email -> account id (one account per email: ValueError otherwise)
    P lease:<name>          string holder, with a PX expiry (SET NX PX; Lua compare-and-delete)
    P cooldowns             hash   "<account id>\\t<model>" -> JSON [account, model, until, reason, message]
    P cooldown_until        zset   the same members by ``until``: expired ones are dropped when listed
    P bindings              hash   conversation key -> account id
    P binding_at            zset   conversation key by last write (``list_bindings(since)``, pruning)
    P catalogs              hash   account id -> JSON {data, fetched_at, summary}
    P inflight:<worker>     hash   account id -> requests in flight, with a PX expiry (a dead host's
                                   counts expire with it)
    P workers               zset   worker -> expiry (index of the inflight hashes)
    P settings              hash   live setting -> JSON value (api_key, admin_password encrypted with
                                   a secret key)
    P rec:<kind>:<key>      string a short-lived record (dashboard session, login in progress), base64,
                                   encrypted with a secret key, with a PX expiry
    P recs:<kind>           zset   the record keys of a kind by creation (order, ``max_records``)
    P keys                  set    user key names
    P key:<name>            hash   the ApiKey's fields as strings (models, ips: JSON arrays; the hash of
                                   the secret, never the secret)
    P key_hashes            hash   secret hash -> key name (one key per secret)
    P key_used              hash   key name -> last use (epoch seconds; not a change of the key)
    P kw:<name>             zset   request id -> admission time: the key's rpm window (the last 60 s)
    P kf:<name>             zset   request id -> expiry: the key's requests in flight
    P ku:<name>             hash   "<UTC day number>|<field>" -> the key's daily totals (requests,
                                   input_tokens, output_tokens, errors, refused, last_used_at)
    P key_usage_names       set    the names with daily totals
    P key_flight_names      set    the names that may have requests in flight

Account writes are Lua scripts, atomic: ``save_account`` (email uniqueness, ``token_version`` bump),
``update_account`` (existence check, so a removed account never comes back; the ``token_version`` check
and bump), ``delete_account`` (with its cooldowns, bindings and catalog). So are the user keys' writes and
counters: an admission (``admit_key_request``: the rpm window, the requests in flight, the day's
tokens, then the record of the request) is one script, on Redis's own clock (``TIME``), so the limits
are exact across every host. A single Redis (or a
primary with replicas/Sentinel) is expected, not Redis Cluster: the scripts build their keys.

**The durable copy.** Every account this store writes or reads is also written to the host's local
SQLite store, so a Redis that comes back without data (restarted without persistence, flushed) does not
empty the pool (nor its user keys: their records are copied too, not their counters or daily totals):
when ``P meta`` has no ``seeded`` marker, the first process to notice (at open, or in
``changes()``) takes the ``seed`` lease and, if Redis holds no account at all, copies the local
accounts into it, then sets the marker (a new epoch: every process reloads everything). A Redis that
has the marker is never overwritten from a local copy, so a host that was down for a while cannot push
superseded refresh tokens over the pool's newer ones. A local store that was not a copy of this pool
yet (a host that ran on its own before, see ``shared-pool.json`` in AGW_HOME) adds its accounts the
pool does not know (by id and email) once, when it joins.

**Redis unreachable.** Opening the store fails with one :class:`StoreUnavailable` line (URL redacted).
Later, every call has a socket timeout (``TIMEOUT``) and one reconnect; a failure marks the store down
(one warning; ``health()`` says so) and calls fail fast for a moment. Log-like writes (cooldowns,
bindings, catalogs, requests in flight) then fail quietly and are kept to be written again; reads and
account writes raise :class:`StoreUnavailable` (a refresh that needs the lease answers 503).
``changes()`` reports nothing while Redis is down; its first success re-writes what was kept and
reports every area (a full reload).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import orjson
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from antigravity_gateway.errors import SecretKeyError, StoreUnavailable
from antigravity_gateway.keys.record import EDITABLE_FIELDS, Admission, ApiKey, KeyUsage, Limit
from antigravity_gateway.store.base import (
    TOKEN_FIELDS,
    Account,
    Catalog,
    Cooldown,
    RequestQuery,
    RequestRecord,
    StoreArea,
)
from antigravity_gateway.store.crypto import TokenCipher, is_encrypted, new_salt
from antigravity_gateway.store.sqlite import SQLiteStore
from antigravity_gateway.upstream.proxies import redact

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a Redis call may take (connect, each read); a call never takes much more than twice this.
TIMEOUT = 1.5
#: After a failure, calls fail at once for this long (``changes()`` always tries).
FAIL_FAST = 0.5
#: Writes kept while Redis is down, to be written again when it is back (the oldest go first).
MAX_PENDING = 10_000
#: How long a process waits for another one that is seeding the pool.
SEED_WAIT = 15.0

_AREAS: tuple[StoreArea, ...] = get_args(StoreArea)
_TYPES: dict[str, type] = {
    f.name: float if f.type == "float" else int if f.type == "int" else str for f in fields(Account)
}
_KEY_TYPES: dict[str, type] = {
    f.name: float if f.type == "float" else int if f.type == "int" else str for f in fields(ApiKey)
}
_KEY_LISTS = ("models", "ips")  # tuples, stored as JSON arrays
_USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "errors", "refused")
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_SECRET_FIELDS = ("refresh_token", "access_token", "proxy_url")  # proxy_url: may hold a password
_SECRET_SETTINGS = frozenset({"api_key", "admin_password"})
_UNREACHABLE = (
    redis_errors.ConnectionError,  # also BusyLoadingError (Redis still loading its data)
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica after a failover
    OSError,
    TimeoutError,
)
#: The marker file in AGW_HOME: which shared pool the local store is a copy of.
COPY_MARKER = "shared-pool.json"

# -- Lua scripts (ARGV[1] is always the key prefix) -----------------------------------------------------

_LIST_ACCOUNTS = """
local p = ARGV[1]
local out = {redis.call('HGET', p .. 'meta', 'seeded') or ''}
for _, id in ipairs(redis.call('SMEMBERS', p .. 'accounts')) do
  local h = redis.call('HGETALL', p .. 'account:' .. id)
  if #h > 0 then out[#out + 1] = h end
end
return out
"""

# ARGV: prefix, id, email, version given, only_new ('1': insert only), field/value pairs (no token_version)
_SAVE_ACCOUNT = """
local p, id, email = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'account:' .. id
local exists = redis.call('EXISTS', key) == 1
local owner = redis.call('HGET', p .. 'emails', email)
if ARGV[5] == '1' and (exists or owner) then return 0 end
if owner and owner ~= id then return -1 end
local old = redis.call('HGET', key, 'email')
if old and old ~= email and redis.call('HGET', p .. 'emails', old) == id then
  redis.call('HDEL', p .. 'emails', old)
end
local version = math.max(tonumber(redis.call('HGET', key, 'token_version') or '0'), tonumber(ARGV[4])) + 1
redis.call('HSET', key, 'token_version', version, unpack(ARGV, 6))
redis.call('SADD', p .. 'accounts', id)
redis.call('HSET', p .. 'emails', email, id)
redis.call('HINCRBY', p .. 'changes', 'accounts', 1)
return version
"""

# ARGV: prefix, id, expected version ('' for any), bump ('1' when a token field is written), pairs
_UPDATE_ACCOUNT = """
local p, id = ARGV[1], ARGV[2]
local key = p .. 'account:' .. id
if redis.call('EXISTS', key) == 0 then return false end
local version = redis.call('HGET', key, 'token_version') or '0'
if ARGV[3] ~= '' and version ~= ARGV[3] then return false end
if #ARGV < 5 then return {tonumber(version), redis.call('HGETALL', key)} end
for i = 5, #ARGV, 2 do
  if ARGV[i] == 'email' then
    local owner = redis.call('HGET', p .. 'emails', ARGV[i + 1])
    if owner and owner ~= id then return {-1} end
    local old = redis.call('HGET', key, 'email')
    if old and redis.call('HGET', p .. 'emails', old) == id then redis.call('HDEL', p .. 'emails', old) end
    redis.call('HSET', p .. 'emails', ARGV[i + 1], id)
  end
end
redis.call('HSET', key, unpack(ARGV, 5))
if ARGV[4] == '1' then version = redis.call('HINCRBY', key, 'token_version', 1) end
redis.call('HINCRBY', p .. 'changes', 'accounts', 1)
return {tonumber(version), redis.call('HGETALL', key)}
"""

_DELETE_ACCOUNT = """
local p, id = ARGV[1], ARGV[2]
local key = p .. 'account:' .. id
local email = redis.call('HGET', key, 'email')
redis.call('DEL', key)
redis.call('SREM', p .. 'accounts', id)
if email and redis.call('HGET', p .. 'emails', email) == id then redis.call('HDEL', p .. 'emails', email) end
local start = id .. '\\t'
for _, m in ipairs(redis.call('HKEYS', p .. 'cooldowns')) do
  if string.sub(m, 1, #start) == start then
    redis.call('HDEL', p .. 'cooldowns', m)
    redis.call('ZREM', p .. 'cooldown_until', m)
  end
end
local b = redis.call('HGETALL', p .. 'bindings')
for i = 1, #b, 2 do
  if b[i + 1] == id then
    redis.call('HDEL', p .. 'bindings', b[i])
    redis.call('ZREM', p .. 'binding_at', b[i])
  end
end
redis.call('HDEL', p .. 'catalogs', id)
for _, area in ipairs({'accounts', 'cooldowns', 'bindings_reset', 'catalogs'}) do
  redis.call('HINCRBY', p .. 'changes', area, 1)
end
return 1
"""

# ARGV: prefix, id, field, plaintext, ciphertext: encrypt a token in place if it did not change meanwhile
_ENCRYPT_FIELD = """
local key = ARGV[1] .. 'account:' .. ARGV[2]
if redis.call('HGET', key, ARGV[3]) == ARGV[4] then redis.call('HSET', key, ARGV[3], ARGV[5]) return 1 end
return 0
"""

# ARGV: prefix, salt, key check: the pool's salt and check (these, unless it had some already)
_INIT_KEY = """
local meta = ARGV[1] .. 'meta'
if redis.call('HEXISTS', meta, 'kdf_salt') == 0 then
  redis.call('HSET', meta, 'kdf_salt', ARGV[2], 'key_check', ARGV[3])
end
return redis.call('HMGET', meta, 'kdf_salt', 'key_check')
"""

_ACQUIRE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# ARGV: prefix, worker, ttl ms, account/count pairs
_PUBLISH_IN_FLIGHT = """
local p, worker, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = p .. 'inflight:' .. worker
redis.call('DEL', key)
if #ARGV > 3 then
  redis.call('HSET', key, unpack(ARGV, 4))
  redis.call('PEXPIRE', key, ttl)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local workers = p .. 'workers'
redis.call('ZREMRANGEBYSCORE', workers, '-inf', now)
redis.call('ZADD', workers, now + ttl, worker)
local out = {}
for _, w in ipairs(redis.call('ZRANGE', workers, 0, -1)) do
  if w ~= worker then
    local h = redis.call('HGETALL', p .. 'inflight:' .. w)
    for i = 1, #h do out[#out + 1] = h[i] end
  end
end
return out
"""

# ARGV: prefix, now
_LIST_COOLDOWNS = """
local h, z = ARGV[1] .. 'cooldowns', ARGV[1] .. 'cooldown_until'
for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[2])) do redis.call('HDEL', h, m) end
redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[2])
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '(' .. ARGV[2], '+inf')) do
  local v = redis.call('HGET', h, m)
  if v then out[#out + 1] = v end
end
return out
"""

# ARGV: prefix, account id ('' for every account)
_CLEAR_COOLDOWNS = """
local h, z = ARGV[1] .. 'cooldowns', ARGV[1] .. 'cooldown_until'
if ARGV[2] == '' then
  redis.call('DEL', h, z)
else
  local start = ARGV[2] .. '\\t'
  for _, m in ipairs(redis.call('HKEYS', h)) do
    if string.sub(m, 1, #start) == start then
      redis.call('HDEL', h, m)
      redis.call('ZREM', z, m)
    end
  end
end
redis.call('HINCRBY', ARGV[1] .. 'changes', 'cooldowns', 1)
return 1
"""

# ARGV: prefix, since
_LIST_BINDINGS = """
local h, z = ARGV[1] .. 'bindings', ARGV[1] .. 'binding_at'
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', z, ARGV[2], '+inf')) do
  local v = redis.call('HGET', h, k)
  if v then
    out[#out + 1] = k
    out[#out + 1] = v
  end
end
return out
"""

# ARGV: prefix, conversation key, account id, now (one command: a new conversation waits for it)
_SAVE_BINDING = """
redis.call('HSET', ARGV[1] .. 'bindings', ARGV[2], ARGV[3])
redis.call('ZADD', ARGV[1] .. 'binding_at', ARGV[4], ARGV[2])
redis.call('HINCRBY', ARGV[1] .. 'changes', 'bindings', 1)
return 1
"""

# ARGV: prefix, older than, max rows
_PRUNE_BINDINGS = """
local h, z = ARGV[1] .. 'bindings', ARGV[1] .. 'binding_at'
local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. ARGV[2])
for _, k in ipairs(old) do redis.call('HDEL', h, k) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', '(' .. ARGV[2]) end
local removed = #old
local extra = redis.call('ZCARD', z) - tonumber(ARGV[3])
if extra > 0 then
  for _, k in ipairs(redis.call('ZRANGE', z, 0, extra - 1)) do redis.call('HDEL', h, k) end
  redis.call('ZREMRANGEBYRANK', z, 0, extra - 1)
  removed = removed + extra
end
if removed > 0 then redis.call('HINCRBY', ARGV[1] .. 'changes', 'bindings_reset', 1) end
return removed
"""

# ARGV: prefix, kind, key, value, ttl ms, max records, now
_PUT_RECORD = """
local p, kind, key = ARGV[1], ARGV[2], ARGV[3]
local index = p .. 'recs:' .. kind
redis.call('SET', p .. 'rec:' .. kind .. ':' .. key, ARGV[4], 'PX', ARGV[5])
redis.call('ZADD', index, ARGV[7], key)
local extra = redis.call('ZCARD', index) - tonumber(ARGV[6])
if extra > 0 then
  for _, k in ipairs(redis.call('ZRANGE', index, 0, extra - 1)) do redis.call('DEL', p .. 'rec:' .. kind .. ':' .. k) end
  redis.call('ZREMRANGEBYRANK', index, 0, extra - 1)
end
return 1
"""

# ARGV: prefix, kind: the live records, the oldest first (the index forgets the expired ones)
_LIST_RECORDS = """
local p, kind = ARGV[1], ARGV[2]
local index = p .. 'recs:' .. kind
local out = {}
for _, k in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local v = redis.call('GET', p .. 'rec:' .. kind .. ':' .. k)
  if v then
    out[#out + 1] = k
    out[#out + 1] = v
  else
    redis.call('ZREM', index, k)
  end
end
return out
"""

# ARGV: prefix, kind, key ('' for every record of the kind); take: ARGV[4] == '1' returns the value
_DELETE_RECORDS = """
local p, kind, key = ARGV[1], ARGV[2], ARGV[3]
local index = p .. 'recs:' .. kind
if key == '' then
  for _, k in ipairs(redis.call('ZRANGE', index, 0, -1)) do redis.call('DEL', p .. 'rec:' .. kind .. ':' .. k) end
  redis.call('DEL', index)
  return false
end
local name = p .. 'rec:' .. kind .. ':' .. key
local value = false
if ARGV[4] == '1' then value = redis.call('GET', name) end
redis.call('DEL', name)
redis.call('ZREM', index, key)
return value
"""

# ARGV: prefix, account id ('' for every account)
_CLEAR_BINDINGS = """
local h, z = ARGV[1] .. 'bindings', ARGV[1] .. 'binding_at'
if ARGV[2] == '' then
  redis.call('DEL', h, z)
else
  local b = redis.call('HGETALL', h)
  for i = 1, #b, 2 do
    if b[i + 1] == ARGV[2] then
      redis.call('HDEL', h, b[i])
      redis.call('ZREM', z, b[i])
    end
  end
end
redis.call('HINCRBY', ARGV[1] .. 'changes', 'bindings_reset', 1)
return 1
"""


# -- user keys (keys/) ------------------------------------------------------------------------------------
# Time inside the scripts is Redis's own clock (TIME) unless the caller gives one: one clock for every host.
# Days are UTC day numbers (epoch seconds // 86400) inside Redis, "YYYY-MM-DD" outside.

_NOW_LUA = """
local now
if ARGV[NOW_ARG] ~= '' then now = tonumber(ARGV[NOW_ARG]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# ARGV: prefix, name, secret hash, field/value pairs
_CREATE_KEY = """
local p, name, digest = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'key:' .. name
if redis.call('EXISTS', key) == 1 then return 0 end
if redis.call('HEXISTS', p .. 'key_hashes', digest) == 1 then return -1 end
redis.call('HSET', key, unpack(ARGV, 4))
redis.call('SADD', p .. 'keys', name)
redis.call('HSET', p .. 'key_hashes', digest, name)
redis.call('HINCRBY', p .. 'changes', 'keys', 1)
return 1
"""

# ARGV: prefix, name, field/value pairs: the key's fields after the write (and its last use), or false
# (no such key)
_UPDATE_KEY = """
local p, name = ARGV[1], ARGV[2]
local key = p .. 'key:' .. name
if redis.call('EXISTS', key) == 0 then return false end
if #ARGV > 2 then
  for i = 3, #ARGV, 2 do
    if ARGV[i] == 'secret_hash' then
      local old = redis.call('HGET', key, 'secret_hash')
      if old then redis.call('HDEL', p .. 'key_hashes', old) end
      redis.call('HSET', p .. 'key_hashes', ARGV[i + 1], name)
    end
  end
  redis.call('HSET', key, unpack(ARGV, 3))
  redis.call('HINCRBY', p .. 'changes', 'keys', 1)
end
local h = redis.call('HGETALL', key)
h[#h + 1] = 'last_used_at'
h[#h + 1] = redis.call('HGET', p .. 'key_used', name) or '0'
return h
"""

# ARGV: prefix, name
_DELETE_KEY = """
local p, name = ARGV[1], ARGV[2]
local key = p .. 'key:' .. name
local digest = redis.call('HGET', key, 'secret_hash')
if digest and redis.call('HGET', p .. 'key_hashes', digest) == name then redis.call('HDEL', p .. 'key_hashes', digest) end
local found = redis.call('DEL', key)
redis.call('SREM', p .. 'keys', name)
redis.call('SREM', p .. 'key_usage_names', name)
redis.call('SREM', p .. 'key_flight_names', name)
redis.call('HDEL', p .. 'key_used', name)
redis.call('DEL', p .. 'kw:' .. name, p .. 'kf:' .. name, p .. 'ku:' .. name)
redis.call('HINCRBY', p .. 'changes', 'keys', 1)
return found
"""

_LIST_KEYS = """
local p = ARGV[1]
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', p .. 'keys')) do
  local h = redis.call('HGETALL', p .. 'key:' .. name)
  if #h > 0 then
    h[#h + 1] = 'last_used_at'
    h[#h + 1] = redis.call('HGET', p .. 'key_used', name) or '0'
    out[#out + 1] = h
  end
end
return out
"""

# ARGV: prefix, name, request id, rpm, concurrency, tokens per day, ttl (s), now ('' for Redis's clock)
# Returns {limit, retry_after, window_requests, window_reset, in_flight, tokens_today} (numbers as text).
_ADMIT_KEY_REQUEST = (
    """
local p, name, id = ARGV[1], ARGV[2], ARGV[3]
local rpm, conc, tpd, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
"""
    + _NOW_LUA.replace("NOW_ARG", "8")
    + """
local wkey, fkey, ukey = p .. 'kw:' .. name, p .. 'kf:' .. name, p .. 'ku:' .. name
redis.call('ZREMRANGEBYSCORE', wkey, '-inf', now - 60)
redis.call('ZREMRANGEBYSCORE', fkey, '-inf', now)
local window = redis.call('ZCARD', wkey)
local in_flight = redis.call('ZCARD', fkey)
local day = tostring(math.floor(now / 86400))
local tokens = tonumber(redis.call('HGET', ukey, day .. '|input_tokens') or '0')
  + tonumber(redis.call('HGET', ukey, day .. '|output_tokens') or '0')
local first = redis.call('ZRANGE', wkey, 0, 0, 'WITHSCORES')
local reset = 0
if first[2] then reset = tonumber(first[2]) + 60 - now end
local limit, retry = '', 0
if rpm > 0 and window >= rpm then
  limit = 'rpm'
  local leaves = redis.call('ZRANGE', wkey, window - rpm, window - rpm, 'WITHSCORES')
  retry = tonumber(leaves[2]) + 60 - now
elseif conc > 0 and in_flight >= conc then
  limit, retry = 'concurrency', 1
elseif tpd > 0 and tokens >= tpd then
  limit, retry = 'tokens_per_day', (tonumber(day) + 1) * 86400 - now
end
if limit ~= '' then
  redis.call('HINCRBY', ukey, day .. '|refused', 1)
  redis.call('SADD', p .. 'key_usage_names', name)
  return {limit, tostring(retry), tostring(window), tostring(reset), tostring(in_flight), tostring(tokens)}
end
redis.call('ZADD', wkey, now, id)
redis.call('ZADD', fkey, now + ttl, id)
redis.call('PEXPIRE', wkey, 120000)
redis.call('SADD', p .. 'key_flight_names', name)
if not first[2] then reset = 60 end
return {'', '0', tostring(window + 1), tostring(reset), tostring(in_flight + 1), tostring(tokens)}
"""
)

# ARGV: prefix, ttl (s), then name/id pairs. ZADD XX: a released entry is not written again.
_EXTEND_KEY_REQUESTS = """
local p, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 3, #ARGV, 2 do
  redis.call('ZADD', p .. 'kf:' .. ARGV[i], 'XX', now + ttl, ARGV[i + 1])
end
return 1
"""

# ARGV: prefix, name, request id[, day number, requests, input, output, errors, refused, last used]
_RELEASE_KEY_REQUEST = """
local p, name = ARGV[1], ARGV[2]
redis.call('ZREM', p .. 'kf:' .. name, ARGV[3])
if #ARGV < 4 then return 1 end
local u, d = p .. 'ku:' .. name, ARGV[4]
local fields = {'requests', 'input_tokens', 'output_tokens', 'errors', 'refused'}
for i, f in ipairs(fields) do
  if ARGV[4 + i] ~= '0' then redis.call('HINCRBY', u, d .. '|' .. f, ARGV[4 + i]) end
end
local used = tonumber(ARGV[10])
local last = tonumber(redis.call('HGET', u, d .. '|last_used_at') or '0')
if used > last then redis.call('HSET', u, d .. '|last_used_at', ARGV[10]) end
local known = tonumber(redis.call('HGET', p .. 'key_used', name) or '0')
if used > known then redis.call('HSET', p .. 'key_used', name, ARGV[10]) end
redis.call('SADD', p .. 'key_usage_names', name)
return 1
"""

# ARGV: prefix, name ('' for every key)
_KEY_USAGE = """
local p = ARGV[1]
local names = {ARGV[2]}
if ARGV[2] == '' then names = redis.call('SMEMBERS', p .. 'key_usage_names') end
local out = {}
for _, name in ipairs(names) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('HGETALL', p .. 'ku:' .. name)
end
return out
"""

_KEYS_IN_FLIGHT = """
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', p .. 'key_flight_names')) do
  local fkey = p .. 'kf:' .. name
  redis.call('ZREMRANGEBYSCORE', fkey, '-inf', now)
  local n = redis.call('ZCARD', fkey)
  if n > 0 then
    out[#out + 1] = name
    out[#out + 1] = n
  else
    redis.call('SREM', p .. 'key_flight_names', name)
  end
end
return out
"""


def _encode(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _same(a: Account, b: Account) -> bool:
    """The same account in every field but ``token_version`` (each store counts its own)."""
    return dataclasses.replace(a, token_version=0) == dataclasses.replace(b, token_version=0)


class RedisStore:
    """Store on Redis, shared by every host that opens the same URL and prefix. Use as
    ``async with RedisStore(url, local=SQLiteStore(...)) as store``.

    ``local``: the host's own SQLite store, for the durable copy of the accounts and the request log.
    ``secret_key``: the tokens are encrypted in Redis as in SQLite (salt and key check in ``P meta``).
    """

    def __init__(
        self,
        url: str,
        *,
        local: SQLiteStore,
        prefix: str = "agw:",
        secret_key: str = "",
        timeout: float = TIMEOUT,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.display_url = redact(url)
        self._local = local
        self._secret_key = secret_key
        self._timeout = timeout
        self._cipher: TokenCipher | None = None
        self._redis: aioredis.Redis | None = None
        self._epoch = ""
        self._seen: dict[StoreArea, int] | None = None  # the change counters as changes() last read them
        self._copy: dict[str, Account] | None = None  # the local copy by id, as last read or written
        self._holder = uuid.uuid4().hex  # this process, as the holder of the seed lease
        self._down_since: float | None = None  # wall clock, for health()
        self._down_error = ""
        self._retry_at = 0.0
        self._pending: OrderedDict[tuple[str, ...], Callable[[], Awaitable[Any]]] = OrderedDict()

    # -- opening ----------------------------------------------------------------------------------

    async def __aenter__(self) -> RedisStore:
        await self._local.__aenter__()
        try:
            self._redis = aioredis.Redis.from_url(
                self.url,
                decode_responses=True,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 1),  # one reconnect: a pooled connection Redis closed on restart
                client_name="antigravity-gateway",
            )
            self._scripts = {
                name: self._redis.register_script(lua)
                for name, lua in {
                    "list_accounts": _LIST_ACCOUNTS,
                    "save_account": _SAVE_ACCOUNT,
                    "update_account": _UPDATE_ACCOUNT,
                    "delete_account": _DELETE_ACCOUNT,
                    "encrypt_field": _ENCRYPT_FIELD,
                    "init_key": _INIT_KEY,
                    "acquire_lease": _ACQUIRE_LEASE,
                    "release_lease": _RELEASE_LEASE,
                    "publish_in_flight": _PUBLISH_IN_FLIGHT,
                    "list_cooldowns": _LIST_COOLDOWNS,
                    "clear_cooldowns": _CLEAR_COOLDOWNS,
                    "list_bindings": _LIST_BINDINGS,
                    "prune_bindings": _PRUNE_BINDINGS,
                    "save_binding": _SAVE_BINDING,
                    "clear_bindings": _CLEAR_BINDINGS,
                    "put_record": _PUT_RECORD,
                    "list_records": _LIST_RECORDS,
                    "delete_records": _DELETE_RECORDS,
                    "create_key": _CREATE_KEY,
                    "update_key": _UPDATE_KEY,
                    "delete_key": _DELETE_KEY,
                    "list_keys": _LIST_KEYS,
                    "admit_key_request": _ADMIT_KEY_REQUEST,
                    "extend_key_requests": _EXTEND_KEY_REQUESTS,
                    "release_key_request": _RELEASE_KEY_REQUEST,
                    "key_usage": _KEY_USAGE,
                    "keys_in_flight": _KEYS_IN_FLIGHT,
                }.items()
            }
            try:
                async with asyncio.timeout(4 * self._timeout):
                    await self._redis.ping()
            except (*_UNREACHABLE, redis_errors.AuthenticationError, redis_errors.ResponseError) as exc:
                raise StoreUnavailable(
                    f"Redis at {self.display_url} cannot be reached: {_describe(exc)}"
                ) from None
            await self._open_secrets()
            await self._ensure_seeded()
            await self._join()
            await self.list_accounts()  # and the local copy becomes the pool's
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        await self._local.__aexit__(None, None, None)

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("store is not open")
        return self._redis

    def _key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    async def _hash(self, *key: str) -> dict[str, str]:
        h = await self._do(lambda: self._r.hgetall(self._key(*key)))
        return cast(dict[str, str], h)

    async def _meta(self, name: str) -> str | None:
        value = await self._do(lambda: self._r.hget(self._key("meta"), name))
        return cast(str | None, value)

    async def _script(self, name: str, *args: Any, keys: tuple[str, ...] = ()) -> Any:
        return await self._scripts[name](keys=list(keys), args=[self.prefix, *args] if not keys else args)

    # -- reachability -----------------------------------------------------------------------------

    def _unavailable(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the shared store (Redis at {self.display_url}) is unreachable: {self._down_error}; "
            "try again in a few seconds"
        )

    async def _do(self, call: Callable[[], Awaitable[T]], *, probe: bool = False) -> T:
        """Run one Redis call; a Redis that cannot be reached is a :class:`StoreUnavailable`."""
        if self._down_since is not None and not probe and time.monotonic() < self._retry_at:
            raise self._unavailable()
        try:
            result = await call()  # redis-py bounds the connect and each read by the socket timeouts
        except _UNREACHABLE as exc:
            self._retry_at = time.monotonic() + FAIL_FAST
            if self._down_since is None:
                self._down_since = time.time()
                self._down_error = _describe(exc)
                logger.warning(
                    "Redis at %s is unreachable (%s): serving from memory; token refreshes and account "
                    "changes fail until it is back, cooldowns and bindings are kept and written then",
                    self.display_url,
                    self._down_error,
                )
            raise self._unavailable() from None
        self._retry_at = 0.0  # answered: no more failing fast (changes() reloads and says it is back)
        return result

    async def _keep(self, key: tuple[str, ...], write: Callable[[], Awaitable[Any]]) -> None:
        """A log-like write: when Redis is down, keep it (the latest per ``key``) for when it is back."""
        try:
            await self._do(write)
        except StoreUnavailable:
            self._pending.pop(key, None)
            self._pending[key] = write
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)

    def _forget_pending(self, kind: str, account_id: str | None) -> None:
        for key in [k for k in self._pending if k[0] == kind and (account_id is None or k[1] == account_id)]:
            del self._pending[key]

    async def _reconnected(self) -> None:
        """Redis answers again: write what was kept meanwhile, then say so."""
        while self._pending:
            key, write = next(iter(self._pending.items()))
            await self._do(write, probe=True)
            self._pending.pop(key, None)
        assert self._down_since is not None
        logger.warning(
            "Redis at %s is reachable again after %.1fs: reloading the pool",
            self.display_url,
            time.time() - self._down_since,
        )
        self._down_since = None
        self._down_error = ""

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: whether Redis answered the last call."""
        body: dict[str, Any] = {"ok": self._down_since is None, "backend": "redis", "url": self.display_url}
        if self._down_since is not None:
            body["error"] = self._down_error
            body["down_for"] = round(time.time() - self._down_since, 1)
        return body

    # -- secrets ----------------------------------------------------------------------------------

    async def _open_secrets(self) -> None:
        """Check the secret key against the pool's key check; encrypt plaintext tokens when there is one."""
        meta = await self._hash("meta")
        raw = await self._raw_accounts()
        encrypted = any(is_encrypted(h.get(f, "")) for h in raw for f in _SECRET_FIELDS)
        if not self._secret_key:
            if "key_check" in meta or encrypted:
                raise SecretKeyError(
                    f"the account tokens in Redis at {self.display_url} are encrypted: set AGW_SECRET_KEY "
                    "to the key they were encrypted with (see `agw help security`)"
                )
            return
        if "kdf_salt" not in meta and encrypted:
            raise SecretKeyError(
                f"the account tokens in Redis at {self.display_url} are encrypted but the key check is "
                "missing: restore the Redis data from a backup"
            )
        salt, check = meta.get("kdf_salt"), meta.get("key_check")
        known = self._cipher
        if salt is None or check is None:
            known = known or TokenCipher(self._secret_key, new_salt())
            fresh = known
            salt, check = await self._do(
                lambda: self._script("init_key", fresh.salt.hex(), fresh.check_value().decode("ascii"))
            )
        assert salt is not None and check is not None
        cipher = known if known is not None and known.salt.hex() == salt else None
        if cipher is None:
            cipher = TokenCipher(self._secret_key, bytes.fromhex(salt))
        if not cipher.verify(check.encode("ascii")):
            raise SecretKeyError(
                f"AGW_SECRET_KEY is not the key the account tokens in Redis at {self.display_url} were "
                "encrypted with"
            )
        self._cipher = cipher
        for h in raw:
            for name in _SECRET_FIELDS:
                value = h.get(name, "")
                if value and not is_encrypted(value):
                    await self._encrypt_field(h["id"], name, value, cipher.encrypt(value))

    async def _encrypt_field(self, account_id: str, name: str, plain: str, secret: str) -> None:
        await self._do(lambda: self._script("encrypt_field", account_id, name, plain, secret))

    def _decrypt(self, value: str) -> str:
        if self._cipher is not None:
            return self._cipher.decrypt(value)
        if is_encrypted(value):
            raise SecretKeyError(
                f"the account tokens in Redis at {self.display_url} were encrypted by another process: "
                "restart with the same AGW_SECRET_KEY"
            )
        return value

    def _encrypt(self, name: str, value: Any) -> str:
        if self._cipher is not None and name in _SECRET_FIELDS:
            return self._cipher.encrypt(str(value))
        return _encode(value)

    # -- seeding and the durable copy -------------------------------------------------------------

    async def _raw_accounts(self) -> list[dict[str, str]]:
        reply = await self._do(lambda: self._script("list_accounts"))
        return [_pairs(h) for h in reply[1:]]

    async def _ensure_seeded(self) -> bool:
        """Seed an empty Redis from the local copy (see the module docstring). True when the pool's
        epoch changed (it was seeded now, here or by another process): everything must be reloaded."""
        meta = self._key("meta")
        epoch = await self._meta("seeded")
        if epoch:
            changed = epoch != self._epoch
            self._epoch = epoch
            return changed
        deadline = time.monotonic() + SEED_WAIT
        while not await self.acquire_lease("seed", self._holder, SEED_WAIT):
            if epoch := await self._meta("seeded"):
                self._epoch = epoch
                return True
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"Redis at {self.display_url}: another process is seeding the pool")
            await asyncio.sleep(0.05)
        try:
            if epoch := await self._meta("seeded"):
                self._epoch = epoch
                return True
            await self._open_secrets()  # a flushed Redis lost the salt and key check too
            if not await self._do(lambda: self._r.scard(self._key("accounts"))):
                # Versions above any a process may hold in memory from Redis's previous life: every
                # process adopts the seeded tokens (pool.sync takes only newer ones).
                added = await self._add_local(await self._local_accounts(), version=int(time.time() * 1000))
                if added:
                    logger.warning(
                        "Redis at %s holds no pool (restarted without persistence, or flushed): seeded "
                        "%d account(s) from the local copy in %s",
                        self.display_url,
                        added,
                        self._local.path,
                    )
            if not await self._do(lambda: self._r.scard(self._key("keys"))):
                if keys := await self._add_local_keys():
                    logger.warning(
                        "Redis at %s holds no user keys: seeded %d from the local copy in %s (their "
                        "counters and daily totals start again)",
                        self.display_url,
                        keys,
                        self._local.path,
                    )
            epoch = uuid.uuid4().hex

            async def mark() -> None:
                async with self._r.pipeline(transaction=True) as pipe:
                    pipe.hset(meta, "seeded", epoch)
                    for area in _AREAS:
                        pipe.hincrby(self._key("changes"), area, 1)
                    await pipe.execute()

            await self._do(mark)
            self._epoch = epoch
            self._write_marker()
            return True
        finally:
            await self.release_lease("seed", self._holder)

    async def _add_local(self, accounts: list[Account], *, version: int = 0) -> int:
        """Insert the accounts Redis does not have (by id and by email), with a ``token_version`` above
        ``version``; return how many."""
        added = 0
        for account in accounts:
            if await self._save(dataclasses.replace(account, token_version=version), only_new=True) > 0:
                added += 1
        return added

    def _marker_path(self) -> Path:
        return self._local.path.parent / COPY_MARKER

    def _pool_name(self) -> str:
        return f"{self.display_url} {self.prefix}"

    def _write_marker(self) -> None:
        try:
            self._marker_path().write_text(json.dumps({"pool": self._pool_name()}) + "\n")
        except OSError as exc:
            logger.warning("could not write %s: %s", self._marker_path(), exc)

    async def _join(self) -> None:
        """A local store that was not a copy of this pool yet adds the accounts the pool lacks, once."""
        try:
            marker = json.loads(self._marker_path().read_text())
        except (OSError, ValueError):
            marker = {}
        if isinstance(marker, dict) and marker.get("pool") == self._pool_name():
            return
        added = await self._add_local(await self._local_accounts())
        if added:
            logger.warning(
                "added %d account(s) of the local store %s to the shared pool in Redis at %s",
                added,
                self._local.path,
                self.display_url,
            )
        if keys := await self._add_local_keys():
            logger.warning(
                "added %d user key(s) of the local store %s to the shared pool in Redis at %s",
                keys,
                self._local.path,
                self.display_url,
            )
        self._write_marker()

    async def _local_accounts(self) -> list[Account]:
        if self._copy is None:
            self._copy = {a.id: a for a in await self._local.list_accounts()}
        return list(self._copy.values())

    async def _mirror(self, accounts: list[Account], *, complete: bool) -> None:
        """Bring the local copy in line with ``accounts`` as Redis holds them (``complete``: the whole
        pool, so local accounts not in it are removed). A failure is logged, not raised."""
        try:
            await self._local_accounts()
            assert self._copy is not None
            for account in accounts:
                known = self._copy.get(account.id)
                if known is not None and _same(known, account):
                    continue
                for other in [
                    a for a in self._copy.values() if a.email == account.email and a.id != account.id
                ]:
                    await self._local.delete_account(other.id)
                    del self._copy[other.id]
                copy = dataclasses.replace(account)
                await self._local.save_account(copy)
                self._copy[account.id] = copy
            if complete:
                ids = {a.id for a in accounts}
                for gone in [i for i in self._copy if i not in ids]:
                    await self._local.delete_account(gone)
                    del self._copy[gone]
        except Exception as exc:  # a full disk must not fail a request: the copy catches up later
            logger.warning("could not update the local copy of the pool in %s: %s", self._local.path, exc)
            self._copy = None  # read it again next time

    # -- changes ----------------------------------------------------------------------------------

    async def changes(self) -> set[StoreArea]:
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._key("changes"))
                pipe.hget(self._key("meta"), "seeded")
                counters, epoch = await self._do(pipe.execute, probe=True)
            if epoch != self._epoch:  # flushed, or seeded again (by any process): reload everything
                await self._ensure_seeded()
                counters = await self._hash("changes")
                self._seen = None
            if self._down_since is not None:
                await self._reconnected()
                self._seen = None
        except StoreUnavailable:
            return set()
        values = {area: int(counters.get(area, 0)) for area in _AREAS}
        seen, self._seen = self._seen, values
        if seen is None:
            return set(_AREAS)
        return {area for area in _AREAS if values[area] != seen[area]}

    # -- accounts ---------------------------------------------------------------------------------

    def _account(self, h: Mapping[str, str]) -> Account:
        values: dict[str, Any] = {}
        for name, kind in _TYPES.items():
            if name in h:
                value = h[name]
                values[name] = self._decrypt(value) if name in _SECRET_FIELDS else kind(value)
        return Account(**values)

    async def list_accounts(self) -> list[Account]:
        reply = await self._do(lambda: self._script("list_accounts"))
        if not reply[0] or reply[0] != self._epoch:  # flushed, or seeded elsewhere since
            await self._ensure_seeded()
            reply = await self._do(lambda: self._script("list_accounts"))
        accounts = sorted(
            (self._account(_pairs(h)) for h in reply[1:]), key=lambda a: (-a.priority, a.created_at)
        )
        if reply[0] == self._epoch:
            await self._mirror(accounts, complete=True)
        return accounts

    async def get_account(self, account_id: str) -> Account | None:
        h = await self._hash("account:", account_id)
        if not h:
            return None
        account = self._account(h)
        await self._mirror([account], complete=False)
        return account

    async def _save(self, account: Account, *, only_new: bool = False) -> int:
        pairs: list[str] = []
        for name in _TYPES:
            if name != "token_version":
                pairs += [name, self._encrypt(name, getattr(account, name))]
        return int(
            await self._do(
                lambda: self._script(
                    "save_account",
                    account.id,
                    account.email,
                    str(account.token_version if only_new else 0),
                    "1" if only_new else "0",
                    *pairs,
                )
            )
        )

    async def save_account(self, account: Account) -> None:
        version = await self._save(account)
        if version < 0:
            raise ValueError(f"another account already has the email {account.email}")
        account.token_version = version
        await self._mirror([account], complete=False)

    async def update_account(
        self, account_id: str, changes: Mapping[str, Any], *, expect_token_version: int | None = None
    ) -> int | None:
        unknown = set(changes) - set(_TYPES) | ({"id", "token_version"} & set(changes))
        if unknown:
            raise ValueError(f"not writable account fields: {', '.join(sorted(unknown))}")
        pairs: list[str] = []
        for name, value in changes.items():
            pairs += [name, self._encrypt(name, value)]
        reply = await self._do(
            lambda: self._script(
                "update_account",
                account_id,
                "" if expect_token_version is None else str(expect_token_version),
                "1" if TOKEN_FIELDS & set(changes) else "0",
                *pairs,
            )
        )
        if reply is None:
            return None
        if int(reply[0]) < 0:
            raise ValueError(f"another account already has the email {changes.get('email')}")
        if changes:
            await self._mirror([self._account(_pairs(reply[1]))], complete=False)
        return int(reply[0])

    async def delete_account(self, account_id: str) -> None:
        await self._do(lambda: self._script("delete_account", account_id))
        self._forget_pending("cooldown", account_id)
        self._forget_pending("binding_of", account_id)
        try:
            await self._local.delete_account(account_id)
            if self._copy is not None:
                self._copy.pop(account_id, None)
        except Exception as exc:
            logger.warning(
                "could not remove the account from the local copy in %s: %s", self._local.path, exc
            )

    # -- leases -----------------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        key = self._key("lease:", name)
        ms = str(max(1, int(ttl * 1000)))
        return bool(await self._do(lambda: self._script("acquire_lease", holder, ms, keys=(key,))))

    async def release_lease(self, name: str, holder: str) -> None:
        key = self._key("lease:", name)
        await self._do(lambda: self._script("release_lease", holder, keys=(key,)))

    # -- requests in flight -----------------------------------------------------------------------

    async def publish_in_flight(self, worker: str, counts: Mapping[str, int], ttl: float) -> dict[str, int]:
        pairs: list[str] = []
        for account_id, count in counts.items():
            if count > 0:
                pairs += [account_id, str(int(count))]
        ms = str(max(1, int(ttl * 1000)))
        try:
            reply = await self._do(lambda: self._script("publish_in_flight", worker, ms, *pairs))
        except StoreUnavailable:
            return {}
        totals: dict[str, int] = {}
        for account_id, count in zip(reply[::2], reply[1::2], strict=True):
            totals[account_id] = totals.get(account_id, 0) + int(count)
        return totals

    # -- cooldowns --------------------------------------------------------------------------------

    async def list_cooldowns(self) -> list[Cooldown]:
        reply = await self._do(lambda: self._script("list_cooldowns", repr(time.time())))
        return [Cooldown(*orjson.loads(value)) for value in reply]

    async def save_cooldown(self, cooldown: Cooldown) -> None:
        member = f"{cooldown.account_id}\t{cooldown.model}"
        value = orjson.dumps(dataclasses.astuple(cooldown))

        async def write() -> None:
            if cooldown.until <= time.time():
                return  # expired while Redis was down
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._key("cooldowns"), member, value)
                pipe.zadd(self._key("cooldown_until"), {member: cooldown.until})
                pipe.hincrby(self._key("changes"), "cooldowns", 1)
                await pipe.execute()

        await self._keep(("cooldown", cooldown.account_id, cooldown.model), write)

    async def clear_cooldowns(self, account_id: str | None = None) -> None:
        self._forget_pending("cooldown", account_id)
        await self._keep(
            ("clear_cooldowns", account_id or ""),
            lambda: self._script("clear_cooldowns", account_id or ""),
        )

    # -- conversation bindings --------------------------------------------------------------------

    async def list_bindings(self, since: float = 0.0) -> dict[str, str]:
        reply = await self._do(lambda: self._script("list_bindings", repr(float(since))))
        return dict(zip(reply[::2], reply[1::2], strict=True))

    async def get_binding(self, session_key: str) -> str | None:
        account_id = await self._do(lambda: self._r.hget(self._key("bindings"), session_key))
        return cast(str | None, account_id)

    async def prune_bindings(self, *, older_than: float, max_rows: int) -> int:
        try:
            return int(
                await self._do(
                    lambda: self._script("prune_bindings", repr(float(older_than)), str(int(max_rows)))
                )
            )
        except StoreUnavailable:
            return 0  # pruned again later

    async def save_binding(self, session_key: str, account_id: str) -> None:
        async def write() -> None:
            await self._script("save_binding", session_key, account_id, repr(time.time()))

        await self._keep(("binding_of", account_id, session_key), write)

    async def clear_bindings(self, account_id: str | None = None) -> None:
        self._forget_pending("binding_of", account_id)
        await self._keep(
            ("clear_bindings", account_id or ""),
            lambda: self._script("clear_bindings", account_id or ""),
        )

    # -- model catalogs ---------------------------------------------------------------------------

    async def list_catalogs(self) -> list[Catalog]:
        rows = await self._hash("catalogs")
        catalogs = []
        for account_id, blob in rows.items():
            value = orjson.loads(blob)
            catalogs.append(
                Catalog(account_id, value["data"], value["fetched_at"], value.get("summary") or {})
            )
        return catalogs

    async def save_catalog(self, catalog: Catalog) -> None:
        blob = orjson.dumps(
            {"data": catalog.data, "fetched_at": catalog.fetched_at, "summary": catalog.summary}
        )

        async def write() -> None:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._key("catalogs"), catalog.account_id, blob)
                pipe.hincrby(self._key("changes"), "catalogs", 1)
                await pipe.execute()

        await self._keep(("catalog", catalog.account_id), write)

    # -- short-lived records ----------------------------------------------------------------------

    def _seal(self, value: bytes) -> str:
        text = base64.b64encode(value).decode("ascii")
        return self._cipher.encrypt(text) if self._cipher is not None else text

    def _unseal(self, text: str | None) -> bytes | None:
        if text is None:
            return None
        return base64.b64decode(self._decrypt(text))

    async def put_record(self, kind: str, key: str, value: bytes, *, ttl: float, max_records: int) -> None:
        sealed, ms = self._seal(value), str(max(1, int(ttl * 1000)))
        await self._do(
            lambda: self._script(
                "put_record", kind, key, sealed, ms, str(max(1, max_records)), repr(time.time())
            )
        )

    async def get_record(self, kind: str, key: str) -> bytes | None:
        value = await self._do(lambda: self._r.get(self._key("rec:", kind, ":", key)))
        return self._unseal(cast(str | None, value))

    async def take_record(self, kind: str, key: str) -> bytes | None:
        return self._unseal(await self._do(lambda: self._script("delete_records", kind, key, "1")))

    async def list_records(self, kind: str) -> dict[str, bytes]:
        reply = await self._do(lambda: self._script("list_records", kind))
        return {
            key: base64.b64decode(self._decrypt(value))
            for key, value in zip(reply[::2], reply[1::2], strict=True)
        }

    async def delete_records(self, kind: str, key: str | None = None) -> None:
        await self._do(lambda: self._script("delete_records", kind, key or "", "0"))

    # -- user keys --------------------------------------------------------------------------------

    @staticmethod
    def _api_key(h: Mapping[str, str]) -> ApiKey:
        values: dict[str, Any] = {}
        for name, kind in _KEY_TYPES.items():
            if name in h:
                values[name] = tuple(orjson.loads(h[name])) if name in _KEY_LISTS else kind(h[name])
        return ApiKey(**values)

    @staticmethod
    def _key_pairs(values: Mapping[str, Any]) -> list[str]:
        pairs: list[str] = []
        for name, value in values.items():
            pairs += [name, orjson.dumps(list(value)).decode() if name in _KEY_LISTS else _encode(value)]
        return pairs

    async def _create_key(self, key: ApiKey) -> int:
        fields = {name: getattr(key, name) for name in _KEY_TYPES if name != "last_used_at"}
        return int(
            await self._do(
                lambda: self._script("create_key", key.name, key.secret_hash, *self._key_pairs(fields))
            )
        )

    async def _add_local_keys(self) -> int:
        """Insert the local store's user keys that Redis does not have (by name and hash); how many."""
        added = 0
        for key in await self._local.list_keys():
            if await self._create_key(key) > 0:
                added += 1
        return added

    async def _mirror_keys(self, keys: list[ApiKey], *, complete: bool) -> None:
        """The local copy of the key records (seeds a Redis that lost its data). Logged, not raised."""
        try:
            local = {k.name: k for k in await self._local.list_keys()}
            for key in keys:
                known = local.get(key.name)
                if known is not None and dataclasses.replace(known, last_used_at=0.0) == dataclasses.replace(
                    key, last_used_at=0.0
                ):
                    continue
                if known is not None:
                    await self._local.delete_key(key.name)
                await self._local.create_key(dataclasses.replace(key))
            if complete:
                names = {k.name for k in keys}
                for gone in [n for n in local if n not in names]:
                    await self._local.delete_key(gone)
        except Exception as exc:
            logger.warning(
                "could not update the local copy of the user keys in %s: %s", self._local.path, exc
            )

    async def list_keys(self) -> list[ApiKey]:
        reply = await self._do(lambda: self._script("list_keys"))
        keys = sorted((self._api_key(_pairs(h)) for h in reply), key=lambda k: (k.created_at, k.name))
        await self._mirror_keys(keys, complete=True)
        return keys

    async def get_key(self, name: str) -> ApiKey | None:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key("key:", name))
            pipe.hget(self._key("key_used"), name)
            h, used = await self._do(pipe.execute)
        if not h:
            return None
        return self._api_key({**h, "last_used_at": used or "0"})

    async def create_key(self, key: ApiKey) -> None:
        created = await self._create_key(key)
        if created == 0:
            raise ValueError(f"a key named {key.name!r} already exists")
        if created < 0:
            raise ValueError("a key with this secret already exists")
        await self._mirror_keys([key], complete=False)

    async def update_key(self, name: str, changes: Mapping[str, Any]) -> ApiKey | None:
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not writable key fields: {', '.join(sorted(unknown))}")
        reply = await self._do(lambda: self._script("update_key", name, *self._key_pairs(changes)))
        if reply is None:
            return None
        key = self._api_key(_pairs(reply))
        if changes:
            await self._mirror_keys([key], complete=False)
        return key

    async def delete_key(self, name: str) -> bool:
        found = bool(await self._do(lambda: self._script("delete_key", name)))
        try:
            await self._local.delete_key(name)
        except Exception as exc:
            logger.warning(
                "could not remove the user key from the local copy in %s: %s", self._local.path, exc
            )
        return found

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
        reply = await self._do(
            lambda: self._script(
                "admit_key_request",
                name,
                request_id,
                str(int(rpm)),
                str(int(concurrency)),
                str(int(tokens_per_day)),
                repr(float(ttl)),
                "" if now is None else repr(float(now)),
            )
        )
        limit, retry, window, reset, in_flight, tokens = reply
        return Admission(
            cast(Limit, limit),
            max(0.0, float(retry)),
            int(float(window)),
            max(0.0, float(reset)),
            int(float(in_flight)),
            int(float(tokens)),
        )

    async def extend_key_requests(self, requests: Sequence[tuple[str, str]], ttl: float) -> None:
        if not requests:
            return
        pairs = [part for name, request_id in requests for part in (name, request_id)]
        await self._do(lambda: self._script("extend_key_requests", repr(float(ttl)), *pairs))

    async def release_key_request(self, name: str, request_id: str, usage: KeyUsage | None = None) -> None:
        args = [name, request_id]
        if usage is not None:
            day = date.fromisoformat(usage.day).toordinal() - _EPOCH_DAY
            args += [
                str(day),
                *(str(int(getattr(usage, f))) for f in _USAGE_FIELDS),
                repr(usage.last_used_at),
            ]
        await self._do(lambda: self._script("release_key_request", *args))

    async def key_usage(self, name: str | None = None, *, since_day: str = "") -> list[KeyUsage]:
        reply = await self._do(lambda: self._script("key_usage", name or ""))
        rows: dict[tuple[str, str], KeyUsage] = {}
        for key_name, flat in zip(reply[::2], reply[1::2], strict=True):
            for field, value in _pairs(flat).items():
                number, _, column = field.partition("|")
                day = date.fromordinal(int(number) + _EPOCH_DAY).isoformat()
                if day < since_day:
                    continue
                row = rows.get((day, key_name))
                if row is None:
                    row = rows[(day, key_name)] = KeyUsage(key_name, day)
                setattr(row, column, float(value) if column == "last_used_at" else int(value))
        return [rows[k] for k in sorted(rows)]

    async def keys_in_flight(self) -> dict[str, int]:
        reply = await self._do(lambda: self._script("keys_in_flight"))
        return {name: int(count) for name, count in zip(reply[::2], reply[1::2], strict=True)}

    # -- shared live settings ---------------------------------------------------------------------

    async def shared_settings(self) -> dict[str, Any]:
        rows = await self._hash("settings")
        values = {}
        for name, blob in rows.items():
            value = orjson.loads(blob)
            if name in _SECRET_SETTINGS and isinstance(value, str):
                value = self._decrypt(value)
            values[name] = value
        return values

    async def save_shared_settings(self, values: Mapping[str, Any]) -> None:
        rows = {}
        for name, value in values.items():
            if name in _SECRET_SETTINGS and isinstance(value, str) and self._cipher is not None:
                value = self._cipher.encrypt(value)
            rows[name] = orjson.dumps(value)

        async def write() -> None:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(self._key("settings"))
                if rows:
                    pipe.hset(self._key("settings"), mapping=rows)  # type: ignore[arg-type]
                pipe.hincrby(self._key("changes"), "settings", 1)
                await pipe.execute()

        await self._do(write)

    # -- request log: per host, in the local SQLite store ------------------------------------------

    async def append_requests(self, records: list[RequestRecord]) -> None:
        await self._local.append_requests(records)

    async def query_requests(self, query: RequestQuery) -> list[RequestRecord]:
        return await self._local.query_requests(query)

    async def get_request(self, request_id: int) -> RequestRecord | None:
        return await self._local.get_request(request_id)

    async def request_stats(self, *, since: float, bucket: str, group: str) -> list[dict[str, Any]]:
        return await self._local.request_stats(since=since, bucket=bucket, group=group)

    async def prune_requests(self, *, older_than: float, max_rows: int) -> int:
        return await self._local.prune_requests(older_than=older_than, max_rows=max_rows)


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _describe(exc: BaseException) -> str:
    """A short reason, without the URL (redis-py puts host and port in some messages, never the password)."""
    text = str(exc).strip().rstrip(".")
    name = exc.__class__.__name__
    return f"{name}: {text}" if text else name
