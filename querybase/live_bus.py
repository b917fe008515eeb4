"""Each user's live events: published after commit, replayed after a reconnect.

An event goes, in one Lua script (so ids and deliveries keep one order), to two places:
the user's short stream (a Redis stream capped at REPLAY_LENGTH entries, gone after an
hour of quiet), from which `Last-Event-ID` resumes, and the user's pub/sub channel, which
open event streams listen on. The stream entry's id is the SSE id.

Events say what changed (a run, a request, a notification, who views a request) with
ids and statuses only, never SQL or results: a client reads those through the API, which
checks rights again. A user's events go only to that user's channel and stream.

Publishing never fails the caller: live updates are a convenience, the database is the
truth, and a client that missed one refetches on its next event or reload.
"""

import hashlib
import json
import re
from collections.abc import AsyncGenerator, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from django.conf import settings
from django.db import transaction

from querybase.redis_connection import new_async_redis, shared_redis, shared_script

log = structlog.get_logger(__name__)

REPLAY_LENGTH = 200
REPLAY_SECONDS = 3600
#: An open stream sends a comment this often, so proxies keep it and dead clients show.
KEEPALIVE_SECONDS = 15

_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[1])
return id
"""


@dataclass(frozen=True)
class LiveEvent:
    id: str
    kind: str
    data: dict[str, Any]

    def as_sse(self) -> bytes:
        payload = json.dumps(self.data, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.kind}\ndata: {payload}\n\n".encode()

    @classmethod
    def parse(cls, event_id: str, encoded: str | bytes) -> "LiveEvent":
        body = json.loads(encoded)
        return cls(id=event_id, kind=body["kind"], data=body["data"])


def _names(user_id: int) -> tuple[str, str]:
    # Pub/sub channels are server-wide (not per database): the cache's URL keeps apart
    # deployments, or test runs, sharing one Redis (hashed: it may hold a password).
    where = f"{settings.CACHES['default'].get('KEY_PREFIX', 'qb')}:{settings.QUERYBASE_CACHE_URL}"
    scope = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"qb:live:stream:{scope}:{user_id}", f"qb:live:channel:{scope}:{user_id}"


def publish(user_ids: Iterable[int], kind: str, data: dict[str, Any]) -> None:
    """Send one event to each user now (callers inside a transaction use publish_on_commit)."""
    script = shared_script(_PUBLISH)
    if script is None:
        return
    encoded = json.dumps({"kind": kind, "data": data}, separators=(",", ":"))
    try:
        for user_id in set(user_ids):
            script(keys=_names(user_id), args=[encoded, REPLAY_LENGTH, REPLAY_SECONDS])
    except redis.RedisError as error:
        log.warning("live event not published", kind=kind, error=str(error))


def publish_on_commit(recipients: Any, kind: str, data: dict[str, Any]) -> None:
    """Publish once the current transaction commits (at once outside one). `recipients` is
    a list of user ids, or a function returning them, called after the commit."""

    def send() -> None:
        publish(recipients() if callable(recipients) else recipients, kind, data)

    transaction.on_commit(send, robust=True)


def _after(event_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = event_id.partition("-")
    return int(milliseconds), int(sequence or 0)


# A Redis stream id as Redis writes it: two decimal numbers below 2^64. Python's int()
# also takes "1_0", "+1", spaces and other scripts' digits, and numbers Redis cannot hold;
# such an id made the replay's XRANGE fail after the stream had answered 200.
_EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}", re.ASCII)
_LARGEST_STREAM_ID_PART = 2**64 - 1


def valid_event_id(value: str | None) -> str | None:
    """A Last-Event-ID we may have issued (a Redis stream id), or None for anything else:
    a stream given None starts live, without a replay."""
    if not value or not _EVENT_ID.fullmatch(value):
        return None
    milliseconds, sequence = _after(value)
    # The replay starts after the id: after the largest there is nothing to start from.
    if max(milliseconds, sequence) > _LARGEST_STREAM_ID_PART or sequence == milliseconds == _LARGEST_STREAM_ID_PART:
        return None
    return value


def _split(message: bytes) -> tuple[str, bytes]:
    event_id, _, encoded = message.partition(b" ")
    return event_id.decode(), encoded


def open_streams(user_id: int) -> int:
    """How many event streams the user holds open now, on any server: each listens on the
    user's channel, and Redis counts a channel's listeners (a stream whose connection died
    stops counting with it)."""
    client = shared_redis()
    assert client is not None
    return _listeners(client.pubsub_numsub(_names(user_id)[1]))


def _listeners(numsub: Any) -> int:
    return int(numsub[0][1]) if numsub else 0


def _over_the_limit(listeners: int) -> bool:
    # Checked again once the stream listens: streams opened at the same moment all passed
    # the view's check, and those beyond the limit then end at once (the client's next
    # attempt is refused with 429 too_many_streams).
    return listeners > settings.QUERYBASE_LIVE_MAX_STREAMS


def events_for(user_id: int, last_event_id: str | None) -> Generator[LiveEvent | None, None, None]:
    """The user's events, blocking: first those after `last_event_id` still kept, then live
    ones. None once listening, and then every KEEPALIVE_SECONDS of quiet. For threaded
    servers (one thread each)."""
    client = shared_redis()
    assert client is not None
    stream, channel = _names(user_id)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        # Subscribe first, then replay: nothing published in between is lost, and what
        # both deliver is sent once (ids only go up).
        pubsub.subscribe(channel)
        if _over_the_limit(_listeners(client.pubsub_numsub(channel))):
            return
        yield None  # listening: the stream may tell its client it is live
        newest = last_event_id
        if last_event_id:
            kept: Any = client.xrange(stream, min=f"({last_event_id}", max="+")
            for entry_id, fields in kept:
                newest = entry_id.decode()
                yield LiveEvent.parse(newest, fields[b"event"])
        while True:
            message = pubsub.get_message(timeout=KEEPALIVE_SECONDS)
            if message is None:
                yield None
                continue
            event_id, encoded = _split(message["data"])
            if newest and _after(event_id) <= _after(newest):
                continue
            newest = event_id
            yield LiveEvent.parse(event_id, encoded)
    finally:
        pubsub.close()


async def aevents_for(user_id: int, last_event_id: str | None) -> AsyncGenerator[LiveEvent | None, None]:
    """`events_for` on an event loop: an open stream costs a coroutine and a Redis
    connection, not a thread."""
    client = new_async_redis()
    stream, channel = _names(user_id)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        if _over_the_limit(_listeners(await client.pubsub_numsub(channel))):
            return
        yield None  # listening: the stream may tell its client it is live
        newest = last_event_id
        if last_event_id:
            kept: Any = await client.xrange(stream, min=f"({last_event_id}", max="+")
            for entry_id, fields in kept:
                newest = entry_id.decode()
                yield LiveEvent.parse(newest, fields[b"event"])
        while True:
            message = await pubsub.get_message(timeout=KEEPALIVE_SECONDS)
            if message is None:
                yield None
                continue
            event_id, encoded = _split(message["data"])
            if newest and _after(event_id) <= _after(newest):
                continue
            newest = event_id
            yield LiveEvent.parse(event_id, encoded)
    finally:
        await pubsub.aclose()
        await client.aclose()
