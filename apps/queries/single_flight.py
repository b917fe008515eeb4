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

from collections.abc import Callable

from django.core.cache import cache

from apps.queries import result_store, run_finished_signal
from apps.queries.models import FINISHED_STATUSES, QueryRun

_FLIGHT_KEY = "query-flight:{}"
# Beyond the source's time limit: the flight of a run handed to a worker stays taken while
# the worker may still be reading.
_MARGIN_SECONDS = 30


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
    """The read finished (its result, if any, is in the cache): later submissions look there."""
    key = _FLIGHT_KEY.format(cache_key)
    if cache.get(key) == run_id:
        cache.delete(key)


def follow(leader_run_id: str, cache_key: str, timeout: float) -> result_store.CachedAnswer | None:
    """Wait up to `timeout` seconds for the leader's result; None if it ends without one
    (failed, cancelled, too slow for this wait)."""
    answer: list[result_store.CachedAnswer] = []

    def settled() -> bool:
        found = result_store.cached_answer(cache_key, None)
        if found is not None:
            answer.append(found)
            return True
        return _finished(leader_run_id)

    run_finished_signal.wait_until_finished(leader_run_id, _once(settled), timeout)
    return answer[0] if answer else None


def _finished(run_id: str) -> bool:
    return QueryRun.objects.filter(pk=run_id, status__in=FINISHED_STATUSES).exists()


def _once(check: Callable[[], bool]) -> Callable[[], bool]:
    """`wait_until_finished` asks again after it gives up; a settled answer stays settled."""
    settled = False

    def asked() -> bool:
        nonlocal settled
        settled = settled or check()
        return settled

    return asked
