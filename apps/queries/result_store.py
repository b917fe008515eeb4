"""Where results live: small ones in the cache (Redis), large ones in the database.

Two separate things are kept: the *result of a run* (so the job's client can fetch
it, for QUERYBASE_RESULT_RETENTION_SECONDS), and the *cache index* (cache key → the
run whose result may answer the same question again, for the source's cache TTL).

A write that ran on a source makes every cached result of that source stale at once: the
source's *results generation* is part of each cache key, and the write replaces it
(`forget_results_of`), so entries read before the write are never found again and simply
expire.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.datasources.models import DataSource
from apps.queries.models import QueryRun, ResultLocation, StoredResult
from querybase import metrics

_RESULT_KEY = "query-result:{}"
_INDEX_KEY = "query-cache:{}"
_GENERATION_KEY = "query-cache-generation:{}"


def cache_key_for(datasource: DataSource, sql: str, params: Any) -> str:
    """Same source, same database user, same settings, same SQL and params, and no write
    on the source since → same key.

    The database user is part of the key: results read with one set of grants must
    not answer a question asked under another.
    """
    identity = [
        datasource.pk,
        results_generation(datasource.pk),
        datasource.updated_at.isoformat(),
        datasource.read_username or datasource.username,
        normalise_sql(sql),
        params,
    ]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def results_generation(datasource_id: int) -> str:
    """The source's current results generation. Random rather than a counter: should the
    cache lose it (flushed, evicted), the next one is new, so a result cached before a
    write can never match again by the counter starting over."""
    key = _GENERATION_KEY.format(datasource_id)
    generation = cache.get(key)
    if generation is not None:
        return generation
    fresh = uuid.uuid4().hex
    if cache.add(key, fresh, timeout=None):
        return fresh
    # Another process set one meanwhile (or it was lost again: then this read alone uses
    # the fresh value, which only costs a cache miss).
    return cache.get(key) or fresh


def forget_results_of(datasource_id: int) -> None:
    """A write ran on the source (or may have): no result cached before it answers again.
    Called before the write's request reports its end, so whoever sees it finished and
    reads again gets what the source holds now."""
    cache.set(_GENERATION_KEY.format(datasource_id), uuid.uuid4().hex, timeout=None)


def normalise_sql(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def store_result(run: QueryRun, result: dict[str, Any]) -> str:
    """Keep a run's result; returns where it went (ResultLocation)."""
    encoded = json.dumps(result, separators=(",", ":"))
    if len(encoded) <= settings.QUERYBASE_CACHE_MAX_BYTES:
        cache.set(_RESULT_KEY.format(run.pk), encoded, settings.QUERYBASE_RESULT_RETENTION_SECONDS)
        return ResultLocation.CACHE
    StoredResult.objects.update_or_create(run=run, defaults={"payload": result})
    return ResultLocation.DATABASE


def load_result(run: QueryRun) -> dict[str, Any] | None:
    """The stored result of `run` (or of the run it was answered from), None if expired."""
    origin = run.source_run if run.from_cache and run.source_run is not None else run
    if origin.result_location == ResultLocation.CACHE:
        encoded = cache.get(_RESULT_KEY.format(origin.pk))
        return json.loads(encoded) if encoded is not None else None
    if origin.result_location == ResultLocation.DATABASE:
        return StoredResult.objects.filter(run_id=origin.pk).values_list("payload", flat=True).first()
    return None


@dataclass(frozen=True)
class CachedAnswer:
    run_id: str
    computed_at: datetime
    result: dict[str, Any]


def remember_for_cache(run: QueryRun, result: dict[str, Any], location: str, ttl_seconds: int) -> None:
    """Let later identical questions be answered by `run`. A small result travels inside
    the index entry itself, so a cache hit costs one cache round trip."""
    if ttl_seconds <= 0 or not run.cache_key:
        return
    entry = {
        "run": str(run.pk),
        "computed_at": (run.finished_at or timezone.now()).isoformat(),
        "result": result if location == ResultLocation.CACHE else None,
    }
    cache.set(_INDEX_KEY.format(run.cache_key), entry, ttl_seconds)


def cached_answer(cache_key: str, max_age_seconds: int | None) -> CachedAnswer | None:
    """A stored answer to `cache_key`, if it is young enough and still kept; counted as a
    hit or a miss of the results cache (querybase_result_cache_lookups_total)."""
    answer = _cached_answer(cache_key, max_age_seconds)
    metrics.count_cache_lookup(hit=answer is not None)
    return answer


def _cached_answer(cache_key: str, max_age_seconds: int | None) -> CachedAnswer | None:
    entry = cache.get(_INDEX_KEY.format(cache_key))
    if entry is None:
        return None
    computed_at = datetime.fromisoformat(entry["computed_at"])
    if max_age_seconds is not None and (timezone.now() - computed_at).total_seconds() > max_age_seconds:
        return None
    result = entry["result"]
    if result is None:
        result = StoredResult.objects.filter(run_id=entry["run"]).values_list("payload", flat=True).first()
    if result is None:
        return None
    return CachedAnswer(run_id=entry["run"], computed_at=computed_at, result=result)
