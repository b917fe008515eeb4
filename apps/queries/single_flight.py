"""Identical reads in flight at the same moment run once (single flight).

The first submission of a cacheable read takes its cache key's *flight* in the cache
(SET NX, holding its run id) before it runs; an identical submission arriving meanwhile
finds the flight taken and waits for that run instead of running the read again: when
the run finishes, its result is in the results cache under the same key, and the
follower is answered from it (recorded, like any cache hit, as a run of its own pointing
at the one that read the source).

Only reads the cache could answer take part: a source with caching off, or `max_age` 0
("read it now"), always runs. A leader that fails, or dies, does not hold its followers
for long: they stop waiting when its run is finished without a result (or the flight
expires with the source's time limit) and run the read themselves.
"""

import time
from collections.abc import Callable

from django.core.cache import cache
from django.utils import timezone

from apps.queries import result_store, run_finished_signal
from apps.queries.models import FINISHED_STATUSES, QueryRun, RunStatus

_FLIGHT_KEY = "query-flight:{}"
# Beyond the source's time limit: the flight of a run handed to a worker stays taken while
# the worker may still be reading.
_MARGIN_SECONDS = 30
# How long a finished flight still names its run (see `release`).
_LANDED_SECONDS = 5
# How long a follower waits for the result of a run it saw succeed (see `follow`).
_RESULT_GRACE_SECONDS = 0.5


def take(cache_key: str, run_id: str, timeout_ms: int) -> str | None:
    """Take the flight of `cache_key` for `run_id`. None if taken (lead), else the run id
    of the read already in flight (follow it)."""
    key = _FLIGHT_KEY.format(cache_key)
    if cache.add(key, run_id, timeout=timeout_ms / 1000 + _MARGIN_SECONDS):
        return None
    leader = cache.get(key)
    if leader is None:  # landed just as it was released: lead after all, if we can
        return None if cache.add(key, run_id, timeout=timeout_ms / 1000 + _MARGIN_SECONDS) else cache.get(key)
    return leader


def release(cache_key: str, run_id: str) -> None:
    """The read finished (its result, if any, is in the cache): later submissions look there.

    The flight keeps naming the run for a few seconds rather than going at once: a
    submission that missed the cache just before the result landed, and reaches `take`
    just after, then follows the finished run (and finds its result) instead of reading
    the source a second time."""
    key = _FLIGHT_KEY.format(cache_key)
    if cache.get(key) == run_id:
        cache.set(key, run_id, timeout=_LANDED_SECONDS)


def follow(
    leader_run_id: str, cache_key: str, timeout: float, max_age_seconds: int | None = None
) -> result_store.CachedAnswer | None:
    """Wait up to `timeout` seconds for the leader's result; None if it ends without one
    (failed, cancelled, too slow for this wait) or with one older than `max_age_seconds`."""
    answer: list[result_store.CachedAnswer] = []
    succeeded_seen_at: float | None = None

    def settled() -> bool:
        nonlocal succeeded_seen_at
        found = result_store.cached_answer(cache_key, None)
        if found is not None and _young_enough(found, max_age_seconds):
            answer.append(found)
            return True
        if found is not None and found.run_id == leader_run_id:
            return True  # the leader's own result, older than this submission accepts
        status = _status(leader_run_id)
        if status == RunStatus.SUCCEEDED:
            # Its result goes to the cache just after its status, and its announcement
            # comes after that (run_lifecycle._finish_succeeded): a look between the two
            # waits for it, briefly, rather than reading the source a second time.
            if succeeded_seen_at is None:
                succeeded_seen_at = time.monotonic()
            return time.monotonic() - succeeded_seen_at >= _RESULT_GRACE_SECONDS
        return status in FINISHED_STATUSES

    run_finished_signal.wait_until_finished(leader_run_id, _once(settled), timeout)
    return answer[0] if answer else None


def _young_enough(answer: result_store.CachedAnswer, max_age_seconds: int | None) -> bool:
    return max_age_seconds is None or (timezone.now() - answer.computed_at).total_seconds() <= max_age_seconds


def _status(run_id: str) -> str | None:
    return QueryRun.objects.filter(pk=run_id).values_list("status", flat=True).first()


def _once(check: Callable[[], bool]) -> Callable[[], bool]:
    """`wait_until_finished` asks again after it gives up; a settled answer stays settled."""
    settled = False

    def asked() -> bool:
        nonlocal settled
        settled = settled or check()
        return settled

    return asked
