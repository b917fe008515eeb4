"""Sliding-window limits, atomic under concurrency: per-user rate limits, one per kind of
endpoint, and the failed-login throttle (apps/accounts/throttling.py) on the same logs.

DRF's own throttles read the request history from the cache, decide, then write it back:
two requests arriving together both read the same history and both pass, so a burst of
200 against 120/min let far more than 120 through. Here the whole decision (drop what left
the window, count, admit and record) is one Lua script run by Redis, which runs scripts
one at a time: of any number of concurrent requests, exactly `limit` per sliding window
get in, on every web process alike.

The window slides (a log of admission times in a sorted set, at most `limit` entries per
user and kind) rather than being fixed per minute, so a burst straddling a minute
boundary still lets only `limit` through.

One event may enter several logs at once (a login: its account's and its address's), all
or none, so a refusal by one log costs no slot in the other. An event can be taken out of
its logs again (`forget`): a login that turned out right is no failure.

Without Redis (the embedded default, one process) the same logs are kept in the process
under a lock.
"""

import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from querybase.redis_connection import shared_redis, shared_script

# KEYS: the logs; ARGV: now (s), window (s), a unique member, then each log's limit.
# All or nothing: the event enters every log, or none when one of them is full.
# Returns {1, 0} when admitted, {0, seconds until every log has a free slot} when refused.
_ADMIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = -1
for index, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + index]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local free_at = window
    if oldest[2] then free_at = tonumber(oldest[2]) + window - now end
    wait = math.max(wait, free_at)
  end
end
if wait >= 0 then
  return {0, tostring(wait)}
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
return {1, '0'}
"""

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' → (120, 60): DRF's syntax (the period's first letter counts)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


@dataclass(frozen=True)
class Log:
    """One sliding window's log: at most `limit` events per window under `key`."""

    key: str
    limit: int


class _LocalLogs:
    """The embedded default's windows: one process, so a lock makes them atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[tuple[float, str]]] = {}

    def admit(self, logs: Sequence[Log], now: float, window: int, member: str) -> float | None:
        with self._lock:
            wait = None
            for log in logs:
                entries = self._logs.setdefault(log.key, deque())
                while entries and entries[0][0] <= now - window:
                    entries.popleft()
                if len(entries) >= log.limit:
                    free_at = entries[0][0] + window - now if entries else window
                    wait = max(wait or 0.0, free_at)
            if wait is not None:
                return wait
            for log in logs:
                self._logs[log.key].append((now, member))
            return None

    def forget(self, key: str, member: str | None) -> None:
        with self._lock:
            if member is None:
                self._logs.pop(key, None)
            elif key in self._logs:
                self._logs[key] = deque(entry for entry in self._logs[key] if entry[1] != member)


_local_logs = _LocalLogs()


def new_member() -> str:
    """A unique name for one event in the logs (so it can be forgotten again alone)."""
    return secrets.token_hex(16)


def admit(logs: Sequence[Log], *, now: float, window: int, member: str) -> float | None:
    """Record one event at `now` in every log of `logs` if each has had fewer than its
    limit within the last `window` seconds, atomically across processes. None when
    admitted; else the seconds until it would be (nothing is recorded then)."""
    script = shared_script(_ADMIT)
    if script is None:
        return _local_logs.admit(logs, now, window, member)
    keys = [log.key for log in logs]
    limits = [log.limit for log in logs]
    admitted, wait = script(keys=keys, args=[repr(now), window, member, *limits])
    return None if admitted else max(float(wait), 0.0)


def forget(key: str, member: str | None = None) -> None:
    """Take one event (`member`) out of a log again, or, with no member, empty the log."""
    client = shared_redis()
    if client is None:
        _local_logs.forget(key, member)
    elif member is None:
        client.delete(key)
    else:
        client.zrem(key, member)


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
        log = Log(f"qb:rate:{self.scope}:{self._who(request)}", limit)
        self.wait_seconds = admit([log], now=self.clock(), window=window, member=new_member())
        return self.wait_seconds is None

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
