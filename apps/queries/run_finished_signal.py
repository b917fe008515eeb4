"""Telling waiting API requests that a run has finished.

With Redis, the worker publishes on a per-run channel and waiters block on it, so a
`wait` returns the moment the result is stored. Without Redis (embedded default, eager
Celery) the run has finished before anyone waits; a short poll covers the rest.
"""

import time
from functools import cache as memoize

import redis
from django.conf import settings

_CHANNEL = "querybase:run-finished:{}"
_POLL_SECONDS = 0.05


@memoize
def _redis() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


def announce_finished(run_id: str) -> None:
    client = _redis()
    if client is not None:
        client.publish(_CHANNEL.format(run_id), b"1")


def wait_until_finished(run_id: str, is_finished, timeout: float) -> bool:
    """Block until `is_finished()` is true or `timeout` seconds pass. Returns the last answer."""
    if is_finished() or timeout <= 0:
        return is_finished()
    deadline = time.monotonic() + timeout
    client = _redis()
    if client is None:
        while time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            if is_finished():
                return True
        return False
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(_CHANNEL.format(run_id))
    try:
        # Subscribed first, then looked: a finish between the two cannot be missed.
        while not is_finished():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pubsub.get_message(timeout=min(remaining, 1.0))
        return True
    finally:
        pubsub.close()
