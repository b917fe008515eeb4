"""Who is looking at an approval request right now.

Per request, a Redis sorted set: member the user id, score the time that user's presence
runs out (PRESENCE_SECONDS after their last heartbeat). A request page sends a heartbeat
while it is open, and says goodbye when it closes; a page that vanished without a word
drops out once its time runs out. Whenever the set of viewers changes, everyone still
viewing gets a `presence` event with the new list.

Without Redis (the embedded default, one process) the same sets live in the process.
"""

import threading
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from apps.approvals import policy as request_policy
from apps.approvals.models import ApprovalRequest
from querybase.live_bus import publish
from querybase.redis_connection import shared_redis, shared_script

PRESENCE_SECONDS = 60
#: The clock (epoch seconds); tests replace it instead of sleeping.
clock = time.time

# KEYS[1] the set; ARGV: now, user id, expiry (or '' to leave). Drops expired viewers,
# adds (or removes) this one, and returns whether the membership changed, then the viewers.
_TOUCH = """
local now = tonumber(ARGV[1])
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local changed
if ARGV[3] == '' then
  changed = redis.call('ZREM', KEYS[1], ARGV[2])
else
  changed = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) - now) + 1)
end
local viewers = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(viewers, 1, tostring(removed + changed))
return viewers
"""

_local_lock = threading.Lock()
_local_sets: dict[int, dict[int, float]] = {}


def _key(request_id: int) -> str:
    return f"qb:presence:request:{request_id}"


def _touch(request_id: int, user_id: int, expires: float | None) -> tuple[bool, list[int]]:
    now = clock()
    script = shared_script(_TOUCH)
    if script is None:
        with _local_lock:
            viewers = _local_sets.setdefault(request_id, {})
            before = {uid for uid, until in viewers.items() if until > now}
            for uid in [uid for uid, until in viewers.items() if until <= now]:
                del viewers[uid]
            if expires is None:
                viewers.pop(user_id, None)
            else:
                viewers[user_id] = expires
            after = set(viewers)
        return before != after, sorted(after)
    reply = script(keys=[_key(request_id)], args=[repr(now), user_id, "" if expires is None else repr(expires)])
    return int(reply[0]) > 0, sorted(int(member) for member in reply[1:])


def viewers_of(approval: ApprovalRequest, user_ids: list[int]) -> list[dict]:
    """The viewers as a page shows them: reviewers (who may still decide) are 'reviewing'.
    Only those who may still see the request: someone who lost the right with the page
    open stays in its set until their presence runs out, and must neither be listed nor
    hear of it."""
    users = [
        user
        for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True).order_by("username")
        if request_policy.may_view_request(user, approval)
    ]
    reviewers = set(request_policy.eligible_reviewers(approval).filter(pk__in=user_ids).values_list("pk", flat=True))
    return [
        {
            "id": user.pk,
            "username": user.username,
            "activity": "reviewing" if user.pk in reviewers and approval.status == "pending" else "viewing",
        }
        for user in users
    ]


def heartbeat(approval: ApprovalRequest, user: User) -> list[dict]:
    """`user` has the request's page open: keep them listed for PRESENCE_SECONDS more."""
    changed, user_ids = _touch(approval.pk, user.pk, clock() + PRESENCE_SECONDS)
    viewers = viewers_of(approval, user_ids)
    if changed:
        _announce(approval, viewers)
    return viewers


def leave(approval: ApprovalRequest, user: User) -> list[dict]:
    """`user` closed the request's page."""
    changed, user_ids = _touch(approval.pk, user.pk, None)
    viewers = viewers_of(approval, user_ids)
    if changed:
        _announce(approval, viewers)
    return viewers


def current_viewers(approval: ApprovalRequest) -> list[dict]:
    client = shared_redis()
    now = clock()
    if client is None:
        with _local_lock:
            user_ids = [uid for uid, until in _local_sets.get(approval.pk, {}).items() if until > now]
    else:
        members: Any = client.zrangebyscore(_key(approval.pk), f"({now}", "+inf")
        user_ids = [int(member) for member in members]
    return viewers_of(approval, user_ids)


def _announce(approval: ApprovalRequest, viewers: list[dict]) -> None:
    # To the viewers listed, who may all see the request; not to every id in its set.
    publish([viewer["id"] for viewer in viewers], "presence", {"request": approval.pk, "viewers": viewers})
