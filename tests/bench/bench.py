"""`make bench`: QueryBase's figures as ratios against the raw driver, in one run.

1. A one-row read through POST /api/v1/queries (uncached, through the real Celery
   worker; and a cache hit), median server time, against psycopg on the same query.
2. Classification throughput on a 10,000-statement script, against sqlparse.parse.
3. A 1,000,000-row x 5-column result streamed to CSV through the API (the shipped
   server, querybase/gunicorn.conf.py, over HTTP): time and the server's peak RSS,
   against `psql \\copy`.
4. Small reads per second through the shipped server from 16 concurrent clients (wrk, a
   closed-loop load generator: each connection sends its next request when the last one
   is answered), uncached and cached, against pgbench running the same SELECT with 16
   clients. Beside them, what the same server gives an application that does nothing,
   and one that does only the least a recorded cache hit must (tests/bench/minimal_read_wsgi.py).
5. Server-side prepared statements: a parameterised one-row read repeated on a pooled
   connection, run by name against sent as text each time (the connector alone).
6. Large results (tests/bench/large_results.py): memory while a 1M-row result is stored,
   read back page by page and exported; the row path's CSV and the JSON export against
   `psql \\copy`, `mariadb --batch` and the CSV (`--only large-results` runs it alone).
7. The audit search: index lag with 1, 2 and 4 indexers, and search latency over
   1,000,000 indexed events (tests/bench/audit_bench.py; `--only audit` runs it alone).
8. The small read's hot path, counted (tests/bench/hot_path.py): metadata SQL statements,
   Redis round trips and CPU time per request (`--only hot-path`, with `--profile DIR` for
   cProfile listings).
9. Sandboxes of the 1M-row table: assigning a pooled copy, and making one on demand
   through the use case, against the engine's copy alone (`CREATE DATABASE … TEMPLATE
   golden`, its objects handed to the copy's login) (`--only sandboxes` runs it alone).
`--only http` runs the shipped server's throughput (4) alone.

It ends with one `BENCH_JSON {…}` line holding every figure.

It needs the same services as the tests (PostgreSQL, Redis); the Makefile sets them.
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
import sqlparse
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import BoundStatement, QueryLimits
from apps.datasources.models import DataSource, DataSourcePermission
from apps.sandboxes import lifecycle
from apps.sandboxes.copies import remove_copy
from apps.sandboxes.engines import copies_for
from apps.sandboxes.golden import refresh_golden
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole
from apps.sandboxes.pool import refill_pool
from apps.sandboxes.roles import make_copy_login
from apps.sqlcore.classification import classify_sql
from tests.bench import audit_bench, hot_path, large_results, minimal_read_wsgi
from tests.support.worker_process import start_worker, stop_worker

BENCH_DB = f"qb_bench{os.environ.get('QUERYBASE_TEST_NAMESPACE', '')}"
ROWS = 1_000_000
ONE_ROW_SQL = "SELECT id, name, amount, created, flag FROM bench_rows WHERE id = 4242"
ALL_ROWS_SQL = "SELECT id, name, amount, created, flag FROM bench_rows ORDER BY id"
ROOT = Path(settings.BASE_DIR)
# The one-row read's columns, for the minimal recorded read's cached result.
_ONE_ROW_COLUMNS = [
    ("id", "int4"),
    ("name", "text"),
    ("amount", "numeric"),
    ("created", "timestamptz"),
    ("flag", "bool"),
]
# Throughput: this many concurrent HTTP connections (and pgbench clients), for this long.
CLIENTS = 16
LOAD_SECONDS = 10
# A parameterised one-row read, for the prepared statements' figure.
PREPARED_SQL = "SELECT id, name, amount, created, flag FROM bench_rows WHERE id = $1"
SERVER_CONFIG = ROOT / "querybase" / "gunicorn.conf.py"


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Command(BaseCommand):
    help = "Benchmark QueryBase against the raw driver (see module docstring)."

    def add_arguments(self, parser):
        parser.add_argument("--postgres", default=os.environ.get("QUERYBASE_BENCH_POSTGRES_URL", ""))
        parser.add_argument("--iterations", type=int, default=300)
        parser.add_argument(
            "--only",
            choices=["large-results", "audit", "sandboxes", "hot-path", "http"],
            help="Run one part alone (its figures only).",
        )
        parser.add_argument(
            "--profile", type=Path, help="With --only hot-path: write CPU profiles (cProfile) into this folder."
        )

    def handle(
        self, *args, postgres: str, iterations: int, only: str | None = None, profile: Path | None = None, **options
    ):
        if not postgres or not settings.REDIS_URL:
            raise CommandError("Run through `make bench` (needs QUERYBASE_BENCH_POSTGRES_URL and REDIS_URL).")
        if only == "audit":
            figures = audit_bench.audit_figures(self.stdout)
            self.stdout.write("\n".join(audit_bench.report_lines(figures)))
            self.stdout.write("BENCH_JSON " + json.dumps(figures, sort_keys=True))
            return
        source_url = self._prepare_source_database(postgres)
        datasource, token = self._prepare_app(source_url)
        if only == "sandboxes":
            figures = self._sandboxes(source_url, datasource)
            self.stdout.write("\n".join(_sandbox_lines(figures)))
            self.stdout.write("BENCH_JSON " + json.dumps(figures, sort_keys=True))
            return
        if only == "hot-path":
            settings.QUERYBASE_QUERY_RATE = "100000/min"
            figures = hot_path.figures(datasource, token, iterations, profile)
            self.stdout.write("\n".join(hot_path.report_lines(figures)))
            self.stdout.write("BENCH_JSON " + json.dumps(figures, sort_keys=True))
            return
        if only == "http":
            with self._shipped_server() as (base, _server_pid):
                figures = self._throughput(source_url, base, datasource, token)
            figures.update(self._server_alone(token))
            figures.update(self._minimal_read(datasource, token))
            self.stdout.write("\n".join(_http_lines(figures)))
            self.stdout.write("BENCH_JSON " + json.dumps(figures, sort_keys=True))
            return
        if only == "large-results":
            figures = large_results.figures(self, source_url, datasource, token)
            self.stdout.write(large_results.report(figures))
            self.stdout.write("BENCH_JSON " + json.dumps(figures, sort_keys=True))
            return
        # The worker stays up throughout: a read that outlasts the inline budget (a loaded
        # machine) is handed to it, as in a deployment.
        worker = self._start_worker()
        figures: dict = {}
        try:
            figures.update(self._small_read(source_url, datasource, token, iterations))
            figures.update(hot_path.figures(datasource, token, iterations))
            figures.update(self._classification())
            figures.update(self._prepared(datasource))
            with self._shipped_server() as (base, server_pid):
                figures.update(self._large_csv(source_url, base, server_pid, datasource, token))
                figures.update(self._throughput(source_url, base, datasource, token))
            figures.update(self._server_alone(token))
            figures.update(self._minimal_read(datasource, token))
        except BaseException:
            self.stdout.write("BENCH_PARTIAL " + json.dumps(figures, sort_keys=True))
            raise
        finally:
            stop_worker(worker)
        figures.update(large_results.figures(self, source_url, datasource, token))
        figures.update(audit_bench.audit_figures(self.stdout))
        figures.update(self._sandboxes(source_url, datasource))
        self._report(figures)

    # Set-up -----------------------------------------------------------------------------

    def _prepare_source_database(self, admin_url: str) -> str:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
                admin.execute(f"CREATE DATABASE {BENCH_DB}")
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        info["dbname"] = BENCH_DB
        source_url = psycopg.conninfo.make_conninfo(**info)
        with psycopg.connect(source_url, autocommit=True) as connection:
            count = connection.execute("SELECT to_regclass('bench_rows') IS NOT NULL").fetchone()[0]
            if not count or connection.execute("SELECT count(*) FROM bench_rows").fetchone()[0] != ROWS:
                self.stdout.write(f"Creating bench_rows ({ROWS:,} rows)…")
                connection.execute("DROP TABLE IF EXISTS bench_rows")
                connection.execute(
                    "CREATE TABLE bench_rows AS SELECT g AS id, 'customer ' || g AS name, "
                    "(g % 100000)::numeric / 100 AS amount, "
                    "timestamptz '2025-01-01' + g * interval '1 minute' AS created, g % 2 = 0 AS flag "
                    f"FROM generate_series(1, {ROWS}) g"
                )
                connection.execute("ALTER TABLE bench_rows ADD PRIMARY KEY (id)")
                connection.execute("ANALYZE bench_rows")
        return source_url

    def _prepare_app(self, source_url: str) -> tuple[DataSource, str]:
        info = psycopg.conninfo.conninfo_to_dict(source_url)
        datasource, _ = DataSource.objects.update_or_create(
            name="bench",
            defaults={
                "engine": "postgresql",
                "host": info.get("host", "127.0.0.1"),
                "port": int(info.get("port", 5432)),
                "database": BENCH_DB,
                "username": info.get("user", "postgres"),
                "max_rows": ROWS,
                "statement_timeout_ms": 600_000,
                "cache_ttl_seconds": 3600,
            },
        )
        group, _ = Group.objects.get_or_create(name="bench")
        DataSourcePermission.objects.update_or_create(group=group, datasource=datasource, defaults={"can_read": True})
        user, _ = get_user_model().objects.get_or_create(username="bench")
        user.groups.add(group)
        return datasource, str(AccessToken.for_user(user))

    def _env(self) -> dict[str, str]:
        return {**os.environ, "QUERYBASE_QUERY_RATE": "100000/min", "QUERYBASE_LOG_LEVEL": "WARNING"}

    def _start_worker(self) -> subprocess.Popen:
        try:
            return start_worker(self._env(), output=subprocess.DEVNULL)
        except RuntimeError as error:
            raise CommandError(str(error)) from error

    # 1. Small read --------------------------------------------------------------------------

    def _small_read(self, source_url: str, datasource: DataSource, token: str, iterations: int) -> dict:
        settings.QUERYBASE_QUERY_RATE = "100000/min"
        with psycopg.connect(source_url) as connection:
            raw = []
            for _ in range(iterations):
                started = time.perf_counter()
                connection.execute(ONE_ROW_SQL).fetchall()
                raw.append(time.perf_counter() - started)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        body = {"datasource": datasource.pk, "sql": ONE_ROW_SQL}

        def post(extra: dict) -> float:
            started = time.perf_counter()
            response = client.post("/api/v1/queries", {**body, **extra}, content_type="application/json")
            took = time.perf_counter() - started
            if response.status_code != 200:
                raise CommandError(f"benchmark request failed: {response.status_code} {response.content[:300]!r}")
            return took

        for _ in range(20):  # warm the pool, the worker and the caches
            post({"max_age": 0})
        # CPU time of this process per request too: on a machine others load, wall time
        # mostly measures the wait for a core, CPU time what QueryBase itself spends.
        cpu_started = time.process_time()
        uncached = [post({"max_age": 0}) for _ in range(iterations)]
        uncached_cpu_ms = (time.process_time() - cpu_started) * 1000 / iterations
        cpu_started = time.process_time()
        hits = [post({}) for _ in range(iterations)]
        hit_cpu_ms = (time.process_time() - cpu_started) * 1000 / iterations
        return {
            "raw_p50_ms": _p50_ms(raw),
            "uncached_p50_ms": _p50_ms(uncached),
            "cache_hit_p50_ms": _p50_ms(hits),
            "small_read_api_cpu_ms": uncached_cpu_ms,
            "cache_hit_cpu_ms": hit_cpu_ms,
            **self._long_script(client, datasource),
        }

    def _long_script(self, client: Client, datasource: DataSource) -> dict:
        """100,000 x `SELECT 1;`: how long the API holds the request (it must not classify
        it), and how long the worker then takes to classify and run it."""
        script = "SELECT 1;" * 100_000
        started = time.perf_counter()
        response = client.post(
            "/api/v1/queries", {"datasource": datasource.pk, "sql": script, "wait": 0}, content_type="application/json"
        )
        answered = time.perf_counter() - started
        if response.status_code != 202:
            raise CommandError(f"long script: expected 202, got {response.status_code} {response.content[:300]!r}")
        run_id = response.json()["id"]
        while client.get(f"/api/v1/queries/{run_id}", {"wait": 5}).json()["status"] in ("queued", "running"):
            pass
        return {"long_script_api_ms": answered * 1000, "long_script_done_s": time.perf_counter() - started}

    # 2. Classification -------------------------------------------------------------------------

    def _classification(self) -> dict:
        templates = [
            "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > {n};",
            "INSERT INTO audit_log (id, note) VALUES ({n}, 'it''s -- not a comment; really');",
            "UPDATE products SET price = price * 1.01 WHERE id = {n} /* bump; */;",
            "WITH recent AS (SELECT * FROM orders WHERE id > {n}) SELECT count(*) FROM recent;",
            "DELETE FROM sessions WHERE expires_at < now() - interval '{n} days';",
            "SELECT nextval('orders_id_seq'), {n};",
            "EXPLAIN SELECT * FROM big_table WHERE id = {n};",
            "-- a comment line\nSELECT $${n}; DROP TABLE x$$ AS text;",
        ]
        script = "\n".join(templates[n % len(templates)].format(n=n) for n in range(10_000))
        started = time.perf_counter()
        classification = classify_sql(script, "postgresql")
        ours = time.perf_counter() - started
        statements = len(classification.statements)
        sample = "\n".join(templates[n % len(templates)].format(n=n) for n in range(500))
        started = time.perf_counter()
        sqlparse.parse(sample)
        sqlparse_rate = 500 / (time.perf_counter() - started)
        return {
            "classified_statements": statements,
            "classify_per_s": statements / ours,
            # What QUERYBASE_INLINE_CLASSIFY_CHARS trades against the inline budget.
            "classify_us_per_char": ours * 1e6 / len(script),
            "classify_inline_limit_ms": ours * 1e3 / len(script) * settings.QUERYBASE_INLINE_CLASSIFY_CHARS,
            "sqlparse_parse_per_s": sqlparse_rate,
        }

    # 3 and 4. The shipped server, over HTTP ---------------------------------------------------

    @contextmanager
    def _shipped_server(self, app: str | None = None) -> Iterator[tuple[str, int]]:
        """The server as it ships (querybase/gunicorn.conf.py), not a tuned copy: (base URL, pid).
        `app`: another WSGI application in its place (the configuration's is QueryBase)."""
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(SERVER_CONFIG), "--bind", f"127.0.0.1:{port}"]
            + ([app] if app else []),
            stdout=subprocess.DEVNULL,
            # The bare application's access lines are written as shipped, but not onto the
            # bench's output.
            stderr=subprocess.DEVNULL if app else None,
            cwd=ROOT,
            env=self._env(),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/health")  # the bare application answers every path
            yield base, server.pid
        finally:
            server.terminate()
            server.wait(timeout=60)

    def _large_csv(self, source_url: str, base: str, server_pid: int, datasource: DataSource, token: str) -> dict:
        copy = f"\\copy ({ALL_ROWS_SQL}) TO STDOUT WITH CSV HEADER"
        started = time.perf_counter()
        psql = subprocess.run(["psql", source_url, "-q", "-c", copy], capture_output=True, check=True)
        psql_seconds = time.perf_counter() - started
        psql_bytes = len(psql.stdout)

        headers = {"Authorization": f"Bearer {token}"}
        body = {"datasource": datasource.pk, "sql": ALL_ROWS_SQL, "format": "csv"}
        started = time.perf_counter()
        received = 0
        with requests.post(
            f"{base}/api/v1/queries/export", json=body, headers=headers, stream=True, timeout=600
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=1 << 16):
                received += len(chunk)
        api_seconds = time.perf_counter() - started
        # The export went to one of the workers: the busiest one's peak is the figure.
        peak_rss_mb = max(_peak_rss_kb(pid) for pid in _worker_pids(server_pid)) / 1024
        return {
            "csv_bytes_api": received,
            "csv_bytes_psql": psql_bytes,
            "csv_api_s": api_seconds,
            "csv_psql_s": psql_seconds,
            "csv_peak_rss_mb": peak_rss_mb,
        }

    def _throughput(self, source_url: str, base: str, datasource: DataSource, token: str) -> dict:
        """Small reads per second from CLIENTS concurrent connections (wrk, closed loop),
        uncached and cached, against pgbench running the same SELECT with as many clients."""
        script = Path(tempfile.mkstemp(suffix=".sql")[1])
        try:
            script.write_text(ONE_ROW_SQL + ";\n")
            pgbench = subprocess.run(
                [
                    "pgbench",
                    "-n",
                    "-c",
                    str(CLIENTS),
                    "-j",
                    "2",
                    "-T",
                    str(LOAD_SECONDS),
                    "-f",
                    str(script),
                    source_url,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            script.unlink()
        pgbench_tps = float(re.search(r"tps = ([0-9.]+)", pgbench.stdout).group(1))
        uncached = _wrk(base, token, {"datasource": datasource.pk, "sql": ONE_ROW_SQL, "max_age": 0})
        cached = _wrk(base, token, {"datasource": datasource.pk, "sql": ONE_ROW_SQL})
        # The same server answering a request that does nothing (no authentication, no
        # database, no Redis): the ceiling of gunicorn and Django's middleware alone on
        # this machine, which no read can pass.
        floor = _wrk(base, token, None, path="/version")
        return {
            "pgbench_tps": pgbench_tps,
            "http_rps_uncached": uncached,
            "http_rps_cached": cached,
            "http_rps_floor": floor,
            # The keys of earlier runs, same figures.
            "http_uncached_rps": uncached,
            "http_cached_rps": cached,
        }

    def _server_alone(self, token: str) -> dict:
        """The shipped server configuration serving an application that does nothing
        (tests/bench/bare_wsgi.py): what gunicorn alone costs a request on this machine,
        below which neither Django nor any read can go."""
        with self._shipped_server(app="tests.bench.bare_wsgi:application") as (base, _server_pid):
            return {"http_rps_server_alone": _wrk(base, token, None, path="/")}

    def _minimal_read(self, datasource: DataSource, token: str) -> dict:
        """The shipped server configuration serving only the least a recorded cache hit
        must do (tests/bench/minimal_read_wsgi.py), in Python without Django: what the
        product's cached throughput could at best reach on this machine."""
        database_url = os.environ["DATABASE_URL"]
        minimal_read_wsgi.prepare(
            database_url,
            {
                "columns": [{"name": name, "type": kind} for name, kind in _ONE_ROW_COLUMNS],
                "rows": [[4242, "customer 4242", "42.42", "2025-01-03 22:42:00+00", True]],
                "row_count": 1,
                "truncated": False,
            },
        )
        try:
            with self._shipped_server(app="tests.bench.minimal_read_wsgi:application") as (base, _server_pid):
                rate = _wrk(base, token, {"datasource": datasource.pk, "sql": ONE_ROW_SQL})
        finally:
            minimal_read_wsgi.remove(database_url)
        return {"http_rps_minimal_recorded_read": rate}

    # 5. Prepared statements ------------------------------------------------------------------

    def _prepared(self, datasource: DataSource) -> dict:
        """The same parameterised one-row read on a pooled connection, in alternating blocks:
        prepared once and run by name, against sent as text every time."""
        connector = connector_for(datasource, CredentialRole.READ)
        limits = QueryLimits(max_rows=10, timeout_ms=10_000)
        samples: dict[bool, list[float]] = {True: [], False: []}
        try:
            for block in range(20):
                prepare = block % 2 == 0
                settings.QUERYBASE_PG_PREPARED_STATEMENTS = prepare
                for index in range(50):
                    statement = [BoundStatement(PREPARED_SQL, (1 + (block * 50 + index) % ROWS,))]
                    started = time.perf_counter()
                    connector.run_read(statement, limits)
                    samples[prepare].append(time.perf_counter() - started)
        finally:
            settings.QUERYBASE_PG_PREPARED_STATEMENTS = True
        prepared, text = _p50_ms(samples[True]), _p50_ms(samples[False])
        return {"prepared_p50_ms": prepared, "unprepared_p50_ms": text, "prepared_speedup": text / prepared}

    # 5. Sandboxes ----------------------------------------------------------------------------------

    def _sandboxes(self, source_url: str, datasource: DataSource) -> dict:
        """Copies of the whole 1M-row table (the sample bound above it): the raw template
        copy, an on-demand copy through the use case (copy, size, state moves, audit), and
        assigning pooled copies (what a user waits for when the pool has one)."""
        settings.QUERYBASE_SANDBOX_NAME_PREFIX = "qb_bench_sb_"
        DataSource.objects.filter(pk=datasource.pk).update(
            sandbox_enabled=True, sandbox_max_rows_per_table=ROWS, sandbox_pool_size=0
        )
        datasource.refresh_from_db()
        users = [get_user_model().objects.get_or_create(username=f"bench-sandbox-{n}")[0] for n in range(4)]
        group = Group.objects.get(name="bench")
        for user in users:
            user.groups.add(group)
        try:
            self.stdout.write("Building the sandbox golden copy of bench_rows…")
            started = time.perf_counter()
            golden = refresh_golden(datasource)
            golden_s = time.perf_counter() - started
            copies = copies_for(datasource)
            make_copy_login(datasource, "qb_bench_sb_raw")  # a copy's login is made before it

            started = time.perf_counter()
            copies.copy(golden.database_name, "qb_bench_sb_raw")
            raw_s = time.perf_counter() - started
            remove_copy(datasource, "qb_bench_sb_raw")

            started = time.perf_counter()
            sandbox, made = lifecycle.sandbox_for(users[0], datasource.pk)
            on_demand_s = time.perf_counter() - started
            assert made and sandbox.state == "active"

            DataSource.objects.filter(pk=datasource.pk).update(sandbox_pool_size=3)
            datasource.refresh_from_db()
            refill_pool(datasource)
            assign = []
            for user in users[1:]:
                started = time.perf_counter()
                _, made = lifecycle.sandbox_for(user, datasource.pk)
                assign.append(time.perf_counter() - started)
                assert made
        finally:
            copies = copies_for(datasource)
            for copy in [
                *Sandbox.objects.filter(datasource=datasource),
                *GoldenCopy.objects.filter(datasource=datasource),
            ]:
                copies.drop(copy.database_name)
            for role in SandboxRole.objects.filter(datasource=datasource, dropped_at=None):
                copies.drop_login(role.name)
            Sandbox.objects.filter(datasource=datasource).delete()
            GoldenCopy.objects.filter(datasource=datasource).delete()
            SandboxRole.objects.filter(datasource=datasource).delete()
            DataSource.objects.filter(pk=datasource.pk).update(sandbox_enabled=False, sandbox_pool_size=0)
        return {
            "sandbox_golden_build_s": golden_s,
            "raw_template_copy_s": raw_s,
            "sandbox_copy_1m_s": on_demand_s,
            "sandbox_assign_ms": _p50_ms(assign),
        }

    # Report ------------------------------------------------------------------------------------

    def _report(self, f: dict) -> None:
        lines = [
            "QueryBase benchmark (one run; ratios against the raw driver on the same machine)",
            f"  small read, raw psycopg p50            {f['raw_p50_ms']:8.3f} ms",
            f"  small read via API, uncached p50       {f['uncached_p50_ms']:8.3f} ms   "
            f"(+{f['uncached_p50_ms'] - f['raw_p50_ms']:.3f} ms, {f['uncached_p50_ms'] / f['raw_p50_ms']:.1f}x raw)"
            "   target: <= raw + 3 ms",
            f"  small read via API, cache hit p50      {f['cache_hit_p50_ms']:8.3f} ms   "
            f"({f['cache_hit_p50_ms'] / f['raw_p50_ms']:.1f}x raw)   target: <= 2 ms",
            f"  CPU of the API process per request      {f['small_read_api_cpu_ms']:8.3f} ms uncached, "
            f"{f['cache_hit_cpu_ms']:.3f} ms cache hit (load average {os.getloadavg()[0]:.1f})",
            f"  classification                         {f['classify_per_s']:8.0f} statements/s "
            f"({f['classified_statements']} statements; sqlparse.parse alone {f['sqlparse_parse_per_s']:.0f}/s, "
            f"{f['classify_per_s'] / f['sqlparse_parse_per_s']:.1f}x)   target: >= 10000/s",
            f"  100,000 x SELECT 1; API answer (202)    {f['long_script_api_ms']:8.1f} ms   "
            f"(classified and run by the worker in {f['long_script_done_s']:.1f} s)   target: <= inline budget",
            f"  classification per character           {f['classify_us_per_char']:8.2f} µs "
            f"(QUERYBASE_INLINE_CLASSIFY_CHARS = {settings.QUERYBASE_INLINE_CLASSIFY_CHARS:,} chars: "
            f"{f['classify_inline_limit_ms']:.0f} ms of the {settings.QUERYBASE_INLINE_BUDGET_MS} ms inline budget)",
            f"  1M rows x 5 cols to CSV, psql \\copy    {f['csv_psql_s']:8.2f} s    ({f['csv_bytes_psql']:,} bytes)",
            f"  1M rows x 5 cols to CSV, API           {f['csv_api_s']:8.2f} s    ({f['csv_bytes_api']:,} bytes, "
            f"{f['csv_api_s'] / f['csv_psql_s']:.2f}x psql)   target: <= 1.5x",
            f"  API server peak RSS during the export  {f['csv_peak_rss_mb']:8.1f} MB   target: < 150 MB",
            f"  small reads over HTTP, {CLIENTS} clients (wrk), uncached {f['http_rps_uncached']:8.0f} /s   "
            f"({100 * f['http_rps_uncached'] / f['pgbench_tps']:.1f}% of pgbench {f['pgbench_tps']:.0f} tps)"
            "   target: >= 2.5%",
            f"  small reads over HTTP, {CLIENTS} clients (wrk), cached   {f['http_rps_cached']:8.0f} /s   "
            f"({100 * f['http_rps_cached'] / f['pgbench_tps']:.1f}% of pgbench)   target: >= 4%",
            f"  GET /version over HTTP, {CLIENTS} clients: the server's ceiling {f['http_rps_floor']:8.0f} /s   "
            f"({100 * f['http_rps_floor'] / f['pgbench_tps']:.1f}% of pgbench)",
            f"  the same configuration serving an app that does nothing {f['http_rps_server_alone']:8.0f} /s   "
            f"({100 * f['http_rps_server_alone'] / f['pgbench_tps']:.1f}% of pgbench)",
            f"  the same serving only what a recorded cache hit must do "
            f"{f['http_rps_minimal_recorded_read']:8.0f} /s   "
            f"({100 * f['http_rps_minimal_recorded_read'] / f['pgbench_tps']:.1f}% of pgbench): "
            "the best a cached read could reach here",
            f"  parameterised one-row read, prepared   {f['prepared_p50_ms']:8.3f} ms   "
            f"(as text each time {f['unprepared_p50_ms']:.3f} ms: {f['prepared_speedup']:.2f}x)",
        ]
        lines.extend(hot_path.report_lines(f))
        lines.extend(audit_bench.report_lines(f))
        lines.extend(_sandbox_lines(f))
        self.stdout.write("\n".join(lines))
        self.stdout.write(large_results.report(f))
        # Stable names for the figures the issue tracks, beside the keys of earlier runs.
        f.update(
            small_read_raw_ms=f["raw_p50_ms"],
            small_read_api_ms=f["uncached_p50_ms"],
            cache_hit_ms=f["cache_hit_p50_ms"],
            csv_1m_ratio=f["csv_api_s"] / f["csv_psql_s"],
            load_average=os.getloadavg()[0],
        )
        self.stdout.write("BENCH_JSON " + json.dumps(f, sort_keys=True))


def _sandbox_lines(f: dict) -> list[str]:
    return [
        f"  sandbox golden copy of 1M rows, built  {f['sandbox_golden_build_s']:8.2f} s    "
        "(pg_dump + COPY, once per refresh)",
        f"  raw CREATE DATABASE … TEMPLATE golden  {f['raw_template_copy_s']:8.2f} s",
        f"  sandbox copied on demand (use case)    {f['sandbox_copy_1m_s']:8.2f} s    "
        f"({f['sandbox_copy_1m_s'] / f['raw_template_copy_s']:.2f}x raw template copy)",
        f"  sandbox assigned from the pool, p50    {f['sandbox_assign_ms']:8.1f} ms   "
        f"({f['sandbox_assign_ms'] / 1000 / f['raw_template_copy_s']:.3f}x raw template copy)   target: < 1 s",
    ]


def _http_lines(f: dict) -> list[str]:
    return [
        f"  HTTP small reads, {CLIENTS} clients: uncached {f['http_rps_uncached']:.0f}/s "
        f"({f['http_rps_uncached'] / f['pgbench_tps']:.2%} of pgbench), cached {f['http_rps_cached']:.0f}/s "
        f"({f['http_rps_cached'] / f['pgbench_tps']:.2%}); pgbench {f['pgbench_tps']:.0f} tps",
        f"  the same server answering GET /version (no auth, database or Redis): {f['http_rps_floor']:.0f}/s "
        f"({f['http_rps_floor'] / f['pgbench_tps']:.2%} of pgbench): the ceiling of gunicorn and Django alone",
        f"  the same configuration serving an application that does nothing: {f['http_rps_server_alone']:.0f}/s "
        f"({f['http_rps_server_alone'] / f['pgbench_tps']:.2%} of pgbench): the ceiling of gunicorn alone",
        f"  the same configuration serving only what a recorded cache hit must do (token, one Redis round trip, "
        f"run and audit event committed, live event; no Django): {f['http_rps_minimal_recorded_read']:.0f}/s "
        f"({f['http_rps_minimal_recorded_read'] / f['pgbench_tps']:.2%} of pgbench): the best a cached read "
        "could reach here",
    ]


def _wrk(base: str, token: str, body: dict | None, path: str = "/api/v1/queries") -> float:
    """Requests per second from wrk: CLIENTS connections on 2 threads for LOAD_SECONDS,
    each posting `body` (a GET where None) again as soon as its last answer came. Fails on
    any answer but 200."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    request = (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        if body is not None
        else 'wrk.method = "GET"\n'
    )
    # Any status but 200 is counted and reported (wrk itself only flags non-2xx/3xx).
    counting = (
        "local others = 0\n"
        "function response(status, headers, body) if status ~= 200 then others = others + 1 end end\n"
        'function done(summary, latency, requests) io.write("NOT_200 " .. others .. "\\n") end\n'
    )
    script.write_text(f'{request}wrk.headers["Authorization"] = "Bearer {token}"\n{counting}')
    try:
        run = subprocess.run(
            [
                "wrk",
                "--timeout",
                "30s",
                "-t",
                "2",
                "-c",
                str(CLIENTS),
                "-d",
                f"{LOAD_SECONDS}s",
                "-s",
                str(script),
                f"{base}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        script.unlink()
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", run.stdout)
    if rate is None:
        raise CommandError(f"wrk said: {run.stdout} {run.stderr}")
    failures = [int(found) for found in re.findall(r"NOT_200 (\d+)", run.stdout)]
    if "Socket errors" in run.stdout or any(failures):
        raise CommandError(f"benchmark requests failed:\n{run.stdout}")
    return float(rate.group(1))


def _free_port() -> int:
    """Any free port, or one of QUERYBASE_TEST_PORTS ("18300-18399") where the machine's
    owner keeps servers to a range (`make bench QB_TEST_PORTS=…`)."""
    span = os.environ.get("QUERYBASE_TEST_PORTS", "")
    low, high = (int(bound) for bound in span.split("-")) if span else (0, 0)
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise CommandError(f"no free port in {span}")


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a loaded machine
            pass
        time.sleep(0.2)
    raise CommandError(f"{url} did not come up")


def _worker_pids(parent: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        if children:
            return [int(child) for child in children]
        time.sleep(0.1)
    raise CommandError("gunicorn started no worker")


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise CommandError("no VmHWM for the server process")
