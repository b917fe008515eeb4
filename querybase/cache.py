"""Django's Redis cache, with one client object per connection pool.

Django's RedisCacheClient makes a new `redis.Redis` for every cache operation, and
redis-py builds its table of response callbacks (a few hundred entries) in each: with
several cache operations per API request, that was a large share of a cache hit's
Python time. A `redis.Redis` is safe to share between threads (it takes a connection
from its pool per command), so one per pool is kept.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    # The pool helpers are Django's own (not in its type stubs); Django's tests of this
    # backend run against them, and ours (tests/queries) go through this client on Redis.
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            # Two threads may both make one; either is fine, the last one stays.
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))  # type: ignore[attr-defined]
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
