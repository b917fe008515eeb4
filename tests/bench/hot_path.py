"""`make bench BENCH_ARGS="--only hot-path"`: what one small read costs the API process,
counted rather than timed, so that two trees can be compared on a machine others load.

For the one-row read of the bench, sent N times through the in-process test client
(uncached with `max_age: 0`, then as cache hits), per request:

- statements sent to the metadata database (Django's connection),
- commands sent to Redis (the cache, the rights map, single flight, run signals),
- CPU time of this process, and the wall-time p50 beside it.

Round trips and statements do not depend on the machine's load; CPU time depends on it
far less than wall time does. With `--profile DIR`, cProfile writes
one cProfile listing (CPU time) per kind of request into DIR, for where the Python time goes.
`valgrind --tool=callgrind` over two runs with different `--iterations` gives
instructions per request, the only figure that ignores the load entirely (README).
"""

import cProfile
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from apps.datasources.models import DataSource

ONE_ROW_SQL = "SELECT id, name, amount, created, flag FROM bench_rows WHERE id = 4242"
WARM_UP = 20


class _Counts:
    def __init__(self) -> None:
        self.sql = 0
        self.redis = 0


@contextmanager
def _counting() -> Iterator[_Counts]:
    """Count metadata SQL statements and Redis commands made while inside."""
    counts = _Counts()

    def count_sql(execute, sql, params, many, context):
        counts.sql += 1
        return execute(sql, params, many, context)

    original_command = redis.Redis.execute_command
    original_pipeline = redis.client.Pipeline.execute

    def count_command(self, *args, **options):
        counts.redis += 1
        return original_command(self, *args, **options)

    def count_pipeline(self, *args, **options):
        counts.redis += 1  # one round trip, however many commands it holds
        return original_pipeline(self, *args, **options)

    redis.Redis.execute_command = count_command  # type: ignore[method-assign]
    redis.client.Pipeline.execute = count_pipeline  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(count_sql):
            yield counts
    finally:
        redis.Redis.execute_command = original_command  # type: ignore[method-assign]
        redis.client.Pipeline.execute = original_pipeline  # type: ignore[method-assign]


@contextmanager
def _profiled(directory: Path | None, name: str) -> Iterator[None]:
    """cProfile on CPU time (not wall time: on a loaded machine wall time is mostly the
    wait for a core), its top functions written to DIR/NAME.txt."""
    if directory is None:
        yield
        return
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / f"{name}.txt").open("w") as out:
            stats = pstats.Stats(profiler, stream=out).strip_dirs()
            stats.sort_stats("cumulative").print_stats(80)
            stats.sort_stats("tottime").print_stats(40)


def figures(datasource: DataSource, token: str, iterations: int, profile_dir: Path | None = None) -> dict:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"datasource": datasource.pk, "sql": ONE_ROW_SQL}

    def post(extra: dict) -> None:
        response = client.post("/api/v1/queries", {**body, **extra}, content_type="application/json")
        if response.status_code != 200:
            raise CommandError(f"benchmark request failed: {response.status_code} {response.content[:300]!r}")

    found: dict = {}
    for name, extra in (("uncached", {"max_age": 0}), ("cache_hit", {})):
        for _ in range(WARM_UP):
            post(extra)
        found.update(_measure(name, lambda extra=extra: post(extra), iterations, profile_dir))
    return found


def _measure(name: str, request: Callable[[], None], iterations: int, profile_dir: Path | None) -> dict:
    walls = []
    with _counting() as counts, _profiled(profile_dir, name):
        cpu_started = time.process_time()
        for _ in range(iterations):
            started = time.perf_counter()
            request()
            walls.append(time.perf_counter() - started)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / iterations
    return {
        f"hot_{name}_sql_per_request": counts.sql / iterations,
        f"hot_{name}_redis_per_request": counts.redis / iterations,
        f"hot_{name}_cpu_ms": cpu_ms,
        f"hot_{name}_wall_p50_ms": statistics.median(walls) * 1000,
    }


def report_lines(f: dict) -> list[str]:
    lines = []
    for name, label in (("uncached", "uncached"), ("cache_hit", "cache hit")):
        lines.append(
            f"  small read, {label:<9} per request: {f[f'hot_{name}_sql_per_request']:.1f} SQL statements, "
            f"{f[f'hot_{name}_redis_per_request']:.1f} Redis round trips, CPU {f[f'hot_{name}_cpu_ms']:.2f} ms, "
            f"wall p50 {f[f'hot_{name}_wall_p50_ms']:.2f} ms"
        )
    return lines
