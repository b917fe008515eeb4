"""One Redis client per process for what QueryBase keeps in Redis itself, beside Django's
cache: rate-limit windows, live events, presence. It talks to the cache's database
(QUERYBASE_CACHE_URL), never the broker's, so a flushed broker loses none of it and a
cleared cache loses only what is short-lived anyway.

None on the embedded default (no REDIS_URL): callers then keep their state in the process.
"""

from functools import lru_cache

import redis
import redis.asyncio
from django.conf import settings
from redis.commands.core import Script


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


@lru_cache(maxsize=1)
def shared_redis() -> redis.Redis | None:
    """The process's client (thread-safe: redis-py takes a pooled connection per command)."""
    if not redis_enabled():
        return None
    return redis.Redis.from_url(settings.QUERYBASE_CACHE_URL, health_check_interval=30)


def shared_script(lua: str) -> Script | None:
    """`lua` bound to the process's client: a call runs it by its SHA1 (EVALSHA, loading
    it again if the server lost it), so the script's text is not sent, nor hashed again by
    Redis, on every call. None where `shared_redis` is. (Made per call: it costs one local
    SHA1, and never outlives the client it was bound to.)"""
    client = shared_redis()
    return None if client is None else client.register_script(lua)


def new_async_redis() -> redis.asyncio.Redis:
    """A client for one event loop's use (an open event stream): asyncio clients are bound
    to the loop that made them, so they are not shared."""
    return redis.asyncio.Redis.from_url(settings.QUERYBASE_CACHE_URL)
