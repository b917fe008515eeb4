"""Per-user rate limits, one per kind of endpoint, atomic under concurrency.

DRF's own throttles read the request history from the cache, decide, then write it back:
two requests arriving together both read the same history and both pass, so a burst of
200 against 120/min let far more than 120 through. Here the whole decision (drop what left
the window, count, admit and record) is one Lua script run by Redis, which runs scripts
one at a time: of any number of concurrent requests, exactly `limit` per sliding window
get in, on every web process alike.

The window slides (a log of admission times in a sorted set, at most `limit` entries per
user and kind) rather than being fixed per minute, so a burst straddling a minute
boundary still lets only `limit` through.

Without Redis (the embedded default, one process) the same log is kept in the process
under a lock.
"""

import threading
import time
import uuid
from collections import deque

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from querybase.redis_connection import shared_redis

# KEYS[1] the log; ARGV: now (s), window (s), limit, a unique member.
# Returns {1, 0} when admitted, {0, seconds until a slot frees} when refused.
_ADMIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' → (120, 60): DRF's syntax (the period's first letter counts)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


class _LocalLogs:
    """The embedded default's windows: one process, so a lock makes them atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float, window: int, limit: int) -> float | None:
        with self._lock:
            log = self._logs.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return None
            return log[0] + window - now


_local_logs = _LocalLogs()


class UserRateLimit(BaseThrottle):
    """A DRF throttle: `limit` requests per `window` per user for one kind of endpoint.

    Subclasses name the kind (`scope`) and the setting holding its rate, read on every
    request so a changed setting applies at once."""

    scope: str = ""
    rate_setting: str = ""
    #: The clock (epoch seconds); tests replace it instead of sleeping.
    clock = staticmethod(time.time)

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view) -> bool:
        limit, window = parse_rate(getattr(settings, self.rate_setting))
        key = f"qb:rate:{self.scope}:{self._who(request)}"
        now = self.clock()
        client = shared_redis()
        if client is None:
            self.wait_seconds = _local_logs.admit(key, now, window, limit)
            return self.wait_seconds is None
        admitted, wait = client.eval(_ADMIT, 1, key, repr(now), window, limit, uuid.uuid4().hex)  # type: ignore[misc]
        self.wait_seconds = None if admitted else max(float(wait), 0.0)
        return bool(admitted)

    def wait(self) -> float | None:
        return self.wait_seconds

    def _who(self, request: Request) -> str:
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"address:{self.get_ident(request)}"


class QuerySubmitRateLimit(UserRateLimit):
    """Query submissions and exports: each may run SQL on a source."""

    scope = "query_submit"
    rate_setting = "QUERYBASE_QUERY_RATE"


class QueryAnalyzeRateLimit(UserRateLimit):
    """POST /api/v1/queries/analyze, which editors call as the user types."""

    scope = "query_analyze"
    rate_setting = "QUERYBASE_ANALYZE_RATE"


class SandboxCopyRateLimit(UserRateLimit):
    """Sandbox requests and resets: each may cost the sandbox server a database copy."""

    scope = "sandbox_copy"
    rate_setting = "QUERYBASE_SANDBOX_COPY_RATE"


class LiveRateLimit(UserRateLimit):
    """Opening an event stream and presence heartbeats: cheap each, but a loop of them is not."""

    scope = "live"
    rate_setting = "QUERYBASE_LIVE_RATE"
