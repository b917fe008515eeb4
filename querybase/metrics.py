"""Prometheus instruments: what the processes of a deployment count as they work.

Gunicorn runs several worker processes and a scrape reaches one of them. With
PROMETHEUS_MULTIPROC_DIR set (querybase/gunicorn.conf.py sets it), prometheus_client keeps each
process's counters, histograms and gauges in files in that directory and a scrape adds
them up (its multiprocess mode); without it (runserver, tests, the embedded default) they
live in the process. What the database and Redis know (runs by status, queue depth) is
not counted here but read when scraped (apps/api/metrics.py), so it is right whichever
process answers.
"""

import os
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUEST_SECONDS = Histogram(
    "querybase_http_request_duration_seconds",
    "Time to answer an HTTP request (for a streamed response: until it starts streaming).",
    ["view", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

RESULT_CACHE_LOOKUPS = Counter(
    "querybase_result_cache_lookups",
    "Lookups of a read's result in the results cache, by outcome (hit or miss).",
    ["outcome"],
)

# Connection pools of PostgreSQL sources, as each process last saw its own pools; summed
# over the live processes (a dead process's values go with it, see querybase/gunicorn.conf.py).
_POOL_LABELS = ["pool", "source", "role"]
POOL_CONNECTIONS = Gauge(
    "querybase_postgresql_pool_connections",
    "Connections held by the PostgreSQL source pools, by state (idle or in_use).",
    [*_POOL_LABELS, "state"],
    multiprocess_mode="livesum",
)
POOL_MAX_CONNECTIONS = Gauge(
    "querybase_postgresql_pool_max_connections",
    "Most connections the PostgreSQL source pools may open.",
    _POOL_LABELS,
    multiprocess_mode="livesum",
)
POOL_REQUESTS_WAITING = Gauge(
    "querybase_postgresql_pool_requests_waiting",
    "Requests waiting for a connection from the PostgreSQL source pools.",
    _POOL_LABELS,
    multiprocess_mode="livesum",
)

_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(view: str, method: str, status: int, seconds: float) -> None:
    # Methods are few and known; anything else would let a client invent label values.
    method = method if method in _HTTP_METHODS else "other"
    HTTP_REQUEST_SECONDS.labels(view=view, method=method, status=str(status)).observe(seconds)


def count_cache_lookup(*, hit: bool) -> None:
    RESULT_CACHE_LOOKUPS.labels(outcome="hit" if hit else "miss").inc()


class PoolGauges:
    """One PostgreSQL source pool's gauges. Labelled once: `labels()` finds a child by
    its label values on every call, and a pool publishes on each connection taken and
    given back, twice per read."""

    def __init__(self, *, pool: str, source: str, role: str) -> None:
        labels = {"pool": pool, "source": source, "role": role}
        self._idle = POOL_CONNECTIONS.labels(**labels, state="idle")
        self._in_use = POOL_CONNECTIONS.labels(**labels, state="in_use")
        self._max = POOL_MAX_CONNECTIONS.labels(**labels)
        self._waiting = POOL_REQUESTS_WAITING.labels(**labels)

    def publish(self, stats: dict[str, Any]) -> None:
        """`stats` is psycopg_pool's get_stats() of the pool."""
        idle = stats.get("pool_available", 0)
        self._idle.set(idle)
        self._in_use.set(stats.get("pool_size", 0) - idle)
        self._max.set(stats.get("pool_max", 0))
        self._waiting.set(stats.get("requests_waiting", 0))
