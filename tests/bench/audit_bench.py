"""The audit search's figures for `make bench`.

1. Index lag: indexers (`manage.py audit_indexer`, 1, 2 and 4 at once) are running and
   idle; a burst of 10,000 audit events commits; the store is watched until every event
   is in it. The lag of the k-th event indexed is when the store first held k of the
   burst, counted from the commit: p50 and p99.
2. Search latency over 1,000,000 indexed events: synthetic documents written straight into
   the PostgreSQL store (generate_series, once; kept between runs), then each report
   through the API (Django's test client, an admin's token), median of several calls.
"""

import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from apps.audit.models import AuditEvent
from apps.audit_search import indexer
from apps.audit_search.search_store import get_store
from apps.audit_search.search_store.postgresql import PostgresSearchStore

BURST = 10_000
CONSUMERS = (1, 2, 4)
SYNTHETIC = 1_000_000
# Synthetic documents' event ids start here, far above any real event's.
SYNTHETIC_BASE = 10**12
SEARCH_CALLS = 30
ROOT = Path(settings.BASE_DIR)


def audit_figures(stdout) -> dict:
    store = get_store()
    if not isinstance(store, PostgresSearchStore):
        raise RuntimeError("the audit bench needs the PostgreSQL search store (AUDIT_SEARCH_URL)")
    figures: dict = {}
    indexer.index_until_empty("bench-drain", wait_for_leases=False)  # what earlier parts recorded
    for consumers in CONSUMERS:
        p50, p99, total = _index_lag(store, consumers)
        figures[f"audit_lag_p50_ms_{consumers}c"] = p50
        figures[f"audit_lag_p99_ms_{consumers}c"] = p99
        figures[f"audit_index_events_per_s_{consumers}c"] = BURST / total
        stdout.write(f"  audit index lag, {consumers} consumer(s): p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    _synthetic_documents(store, stdout)
    figures.update(_search_latency())
    return figures


def report_lines(f: dict) -> list[str]:
    lines = []
    for consumers in CONSUMERS:
        lines.append(
            f"  audit index lag, burst of {BURST:,}, {consumers} consumer(s)  p50 "
            f"{f[f'audit_lag_p50_ms_{consumers}c']:7.0f} ms, p99 {f[f'audit_lag_p99_ms_{consumers}c']:7.0f} ms "
            f"({f[f'audit_index_events_per_s_{consumers}c']:.0f} events/s, "
            f"{f[f'audit_index_events_per_s_{consumers}c'] / f['audit_index_events_per_s_1c']:.2f}x one consumer)"
        )
    lines.append(
        f"  audit search over {SYNTHETIC:,} events, API p50: full text {f['audit_search_ms']:.1f} ms, "
        f"record {f['audit_search_records_ms']:.1f} ms, user {f['audit_search_user_ms']:.1f} ms, "
        f"window {f['audit_search_window_ms']:.1f} ms, rare word {f['audit_search_rare_ms']:.1f} ms"
    )
    return lines


def _index_lag(store: PostgresSearchStore, consumers: int) -> tuple[float, float, float]:
    with store.pool.connection() as connection:
        connection.execute("DELETE FROM audit_documents WHERE event_id < %s", [SYNTHETIC_BASE])
    processes = [_start_indexer(f"bench-{consumers}-{number}") for number in range(consumers)]
    try:
        with transaction.atomic():
            now = timezone.now()
            events = AuditEvent.objects.bulk_create(
                [AuditEvent(created_at=now, actor_username="bench", action="bench.burst") for _ in range(BURST)],
                batch_size=5000,
            )
        committed = time.perf_counter()
        first = events[0].pk
        reached: list[float] = []  # reached[k]: seconds until k+1 events were in the store
        while len(reached) < BURST:
            with store.pool.connection() as connection:
                row = connection.execute(
                    "SELECT count(*) FROM audit_documents WHERE event_id >= %s AND event_id < %s",
                    [first, SYNTHETIC_BASE],
                ).fetchone()
            count = row[0] if row else 0
            elapsed = time.perf_counter() - committed
            reached.extend([elapsed] * (count - len(reached)))
            if elapsed > 600:
                raise RuntimeError(f"indexing {BURST} events took over 10 minutes ({count} done)")
            time.sleep(0.01)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
    p50 = reached[BURST // 2 - 1] * 1000
    p99 = reached[int(BURST * 0.99) - 1] * 1000
    return p50, p99, reached[-1]


def _start_indexer(owner: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "audit_indexer", "--owner", owner, "--poll-seconds", "0.05"],
        cwd=ROOT,
        env={**os.environ, "QUERYBASE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        text=True,
    )
    # Idle and polling before the burst: the lag is the indexers', not Django's start-up.
    line = process.stdout.readline() if process.stdout else ""
    if "started" not in line:
        raise RuntimeError(f"audit indexer {owner} did not start: {line!r}")
    return process


def _synthetic_documents(store: PostgresSearchStore, stdout) -> None:
    with store.pool.connection() as connection:
        row = connection.execute("SELECT count(*) FROM audit_documents WHERE event_id >= %s", [SYNTHETIC_BASE])
        have = row.fetchone()
        if have and have[0] == SYNTHETIC:
            return
        stdout.write(f"Writing {SYNTHETIC:,} synthetic audit documents into the search store…")
        connection.execute("DELETE FROM audit_documents WHERE event_id >= %s", [SYNTHETIC_BASE])
        connection.execute(
            """
            INSERT INTO audit_documents (event_id, created_at, actor, action, object_type, object_id,
                object_repr, datasource_id, outcome, sql, tables, keys, body, search)
            SELECT %(base)s + g, now() - g * interval '1 second', 'user' || (g %% 500),
                (ARRAY['query.run', 'query.finished', 'approval.create', 'approval.review'])[g %% 4 + 1],
                'queries.queryrun', g::text, 'run ' || g, g %% 20 + 1,
                (ARRAY['succeeded', 'failed', '', ''])[g %% 4 + 1],
                'SELECT * FROM table_' || (g %% 1000) || ' WHERE id = ' || g,
                ARRAY['table_' || (g %% 1000)], ARRAY[g::text], 'reason ' || (g %% 997),
                to_tsvector('simple', 'select from table_' || (g %% 1000) || ' where id ' || g
                    || ' reason ' || (g %% 997))
            FROM generate_series(1, %(count)s) g
            """,
            {"base": SYNTHETIC_BASE, "count": SYNTHETIC},
        )
    # As autovacuum would, in time: statistics, and the GIN indexes' pending lists merged
    # (a bulk insert leaves them long, and every search would scan them).
    with psycopg.connect(store.url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE audit_documents")


def _search_latency() -> dict:
    admin, _ = get_user_model().objects.get_or_create(username="bench-auditor", defaults={"is_staff": True})
    client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(admin)}")
    now = timezone.now()
    cases = {
        "audit_search_ms": ("/api/v1/audit/search", {"q": "table_42"}),
        "audit_search_rare_ms": ("/api/v1/audit/search", {"q": "123457"}),
        "audit_search_records_ms": ("/api/v1/audit/records", {"datasource": 8, "table": "table_7", "key": "4007"}),
        "audit_search_user_ms": ("/api/v1/audit/events", {"user": "user42"}),
        "audit_search_window_ms": (
            "/api/v1/audit/events",
            {
                "after": (now - timedelta(hours=30)).isoformat(),
                "before": (now - timedelta(hours=29)).isoformat(),
            },
        ),
    }
    figures = {}
    for name, (path, params) in cases.items():
        samples = []
        for _ in range(SEARCH_CALLS):
            started = time.perf_counter()
            response = client.get(path, params)
            samples.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json()["results"]:
                raise RuntimeError(f"{path} {params}: {response.status_code} {response.content[:300]!r}")
        figures[name] = statistics.median(samples) * 1000
    return figures
