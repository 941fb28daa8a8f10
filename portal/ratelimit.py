"""Fixed-window request counters in Django's shared cache (the API's rate limit).

    wait = hit(f"api-key:{digest}", limit=1000)   # None, or seconds until allowed

Counters must be shared by every web process, so the cache is Redis or the
database (settings.CACHES), never per-process memory.

- Redis: INCR and EXPIRE in one MULTI/EXEC, one round trip (the cache's own
  `add` then `incr` take three: add, exists, incr).
- Any other shared cache: `add` then `incr`, both atomic.
- The database cache (SQLite 3.35+ or PostgreSQL): one row per bucket in the
  cache table, counted by a single upsert, which is atomic on both; the row's
  `expires` holds the end of the current window, and the first request of a new
  window resets the count. One statement per request, no lock to hold, and no
  rows to clean up (one per API key). Django never reads these rows: they are
  not pickled values, and only this module knows their keys.
"""

from __future__ import annotations

import math
import time
import weakref
from datetime import UTC, datetime

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router

CACHE_ALIAS = "default"


def hit(bucket: str, limit: int, period: int = 60) -> int | None:
    """Count one request in `bucket`: None when it is within `limit` per `period`
    seconds, else the whole seconds until the current window ends (Retry-After).
    A limit of 0 or less means no limit."""
    if limit <= 0:
        return None
    now = time.time()
    window_end = (int(now // period) + 1) * period
    cache = caches[CACHE_ALIAS]
    if isinstance(cache, DatabaseCache):
        count = _count_in_database(cache, f"ratelimit:{bucket}", window_end)
    elif isinstance(cache, RedisCache):
        count = _count_in_redis(cache, f"ratelimit:{bucket}:{window_end}", period)
    else:
        count = _count_in_cache(cache, f"ratelimit:{bucket}:{window_end}", period)
    if count <= limit:
        return None
    return max(1, math.ceil(window_end - now))


def _count_in_cache(cache, key: str, period: int) -> int:
    if cache.add(key, 1, period + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, period + 5)
        return 1


def _count_in_redis(cache: RedisCache, key: str, period: int) -> int:
    # Django's RedisCache has no atomic increment-or-create, so this talks to
    # redis through the cache's connection pool (RedisCacheClient, Django 4.0+),
    # with one client per pool: get_client() builds a new one on every call.
    key = cache.make_and_validate_key(key)
    pool = cache._cache._get_connection_pool(write=True)
    client = _redis_clients.get(pool)
    if client is None:
        client = _redis_clients[pool] = cache._cache._client(connection_pool=pool)
    with client.pipeline(transaction=True) as pipe:
        count, _ = pipe.incr(key).expire(key, period + 5).execute()
    return int(count)


_redis_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _count_in_database(cache: DatabaseCache, key: str, window_end: int) -> int:
    alias = router.db_for_write(cache.cache_model_class)
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(cache._table)
    key_col, value_col, expires_col = (
        quote(c) for c in ("cache_key", "value", "expires")
    )
    expires = connection.ops.adapt_datetimefield_value(
        datetime.fromtimestamp(window_end, tz=UTC)
    )
    sql = (
        f"INSERT INTO {table} ({key_col}, {value_col}, {expires_col}) "
        f"VALUES (%s, '1', %s) "
        f"ON CONFLICT ({key_col}) DO UPDATE SET "
        f"{value_col} = CASE WHEN {table}.{expires_col} = EXCLUDED.{expires_col} "
        f"THEN CAST(CAST({table}.{value_col} AS INTEGER) + 1 AS TEXT) ELSE '1' END, "
        f"{expires_col} = EXCLUDED.{expires_col} "
        f"RETURNING {value_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [cache.make_and_validate_key(key), expires])
        return int(cursor.fetchone()[0])
