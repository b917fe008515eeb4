"""`make bench`, large results: memory while a 1M-row result is read, stored and exported,
and the row path's export speed, each beside its reference in the same run.

1. `POST /api/v1/queries` of 1,000,000 rows x 5 columns through the shipped server and a
   real Celery worker, then every page read back through `next`: peak RSS of the web
   workers and of the Celery worker (its pool included), and their RSS afterwards.
2. Exports through the shipped server: CSV with a parameter (PostgreSQL's row path)
   against `psql \\copy`, CSV on MariaDB against `mariadb --batch`, JSON against the CSV
   of the same query (on PostgreSQL COPY's, a user's comparison; also against the row
   path's CSV), JSON on MariaDB against the CSV on MariaDB; the web workers' peak RSS over
   all of them.

Peaks are each process's VmHWM, reset before each part (`/proc/PID/clear_refs`), so one
part's figure is not an earlier part's.
"""

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import MySQLdb
import requests
from django.core.management.base import CommandError

from apps.datasources.models import DataSource, DataSourcePermission
from tests.support.worker_process import start_worker, stop_worker

ROWS = 1_000_000
COLUMNS = "id, name, amount, created, flag"
ALL_ROWS_SQL = f"SELECT {COLUMNS} FROM bench_rows ORDER BY id"
PARAMS_SQL = f"SELECT {COLUMNS} FROM bench_rows WHERE id > $1 ORDER BY id"
MARIADB_DB = f"qb_bench{os.environ.get('QUERYBASE_TEST_NAMESPACE', '')}"


def figures(command, source_url: str, datasource: DataSource, token: str) -> dict:
    """Every figure of this module; `command` is the bench (its shipped server and env)."""
    headers = {"Authorization": f"Bearer {token}"}
    found = _large_result(command, datasource, headers)
    found.update(_exports(command, source_url, datasource, headers))
    return found


# 1. A large result, stored and read -----------------------------------------------------------


def _large_result(command, datasource: DataSource, headers: dict) -> dict:
    worker = start_worker(command._env(), output=subprocess.DEVNULL)
    try:
        with command._shipped_server() as (base, server_pid):
            web = _descendants(server_pid)
            workers = [worker.pid, *_descendants(worker.pid)]
            idle_mb = _rss_mb(web + workers, "VmRSS")
            _reset_peaks(web + workers)
            started = time.perf_counter()
            body = {"datasource": datasource.pk, "sql": ALL_ROWS_SQL, "max_age": 0, "wait": 60}
            answer = requests.post(f"{base}/api/v1/queries", json=body, headers=headers, timeout=600).json()
            while answer["status"] in ("queued", "running"):
                answer = requests.get(
                    f"{base}/api/v1/queries/{answer['id']}", params={"wait": 30}, headers=headers, timeout=600
                ).json()
            stored_s = time.perf_counter() - started
            if answer["status"] != "succeeded":
                raise CommandError(f"the large read failed: {answer.get('error')}")
            started = time.perf_counter()
            rows, pages, ordered = _read_every_page(answer["result"], headers)
            read_s = time.perf_counter() - started
            web_peak, worker_peak = _peak_mb(web), _peak_mb(workers)
            time.sleep(2)  # let both settle back
            after_mb = max(_rss_mb(web, "VmRSS"), _rss_mb(workers, "VmRSS"))
    finally:
        stop_worker(worker)
    return {
        "large_result_rows": rows,
        "large_result_complete": rows == ROWS and ordered,
        "large_result_pages": pages,
        "large_result_store_s": stored_s,
        "large_result_read_s": read_s,
        "large_result_web_rss_mb": web_peak,
        "large_result_worker_rss_mb": worker_peak,
        "large_result_rss_mb": max(web_peak, worker_peak),
        "large_result_rss_after_mb": after_mb,
        "large_result_rss_idle_mb": idle_mb,
    }


def _read_every_page(first: dict, headers: dict) -> tuple[int, int, bool]:
    """Follow `next` to the last page: (rows, pages, whether ids came 1, 2, 3 … in order)."""
    expected, pages, ordered, page = 1, 0, True, first
    with requests.Session() as session:
        session.headers.update(headers)
        while True:
            pages += 1
            for row in page["rows"]:
                ordered = ordered and row[0] == expected
                expected += 1
            if not page["next"]:
                return expected - 1, pages, ordered
            page = session.get(page["next"], timeout=600).json()


# 2. Exports ---------------------------------------------------------------------------------------


def _exports(command, source_url: str, datasource: DataSource, headers: dict) -> dict:
    maria = _mariadb_source(datasource)
    copy = f"\\copy ({ALL_ROWS_SQL}) TO STDOUT WITH CSV HEADER"
    psql_s, psql_csv = _timed(["psql", source_url, "-q", "-c", copy])
    batch = ["mariadb", *_mariadb_args(), "--batch", "--quick", MARIADB_DB, "-e", ALL_ROWS_SQL.replace("$1", "0")]
    mariadb_s, _ = _timed(batch)
    with command._shipped_server() as (base, server_pid):
        web = _descendants(server_pid)
        _reset_peaks(web)
        csv_s, _ = _export(base, headers, datasource, ALL_ROWS_SQL, "csv")
        params_s, params_csv = _export(base, headers, datasource, PARAMS_SQL, "csv", [0])
        json_s, _ = _export(base, headers, datasource, ALL_ROWS_SQL, "json")
        maria_s, _ = _export(base, headers, maria, PARAMS_SQL, "csv", [0])
        maria_json_s, _ = _export(base, headers, maria, PARAMS_SQL, "json", [0])
        export_peak = _peak_mb(web)
    return {
        "export_psql_copy_s": psql_s,
        "export_mariadb_batch_s": mariadb_s,
        "export_csv_copy_s": csv_s,
        "export_csv_params_s": params_s,
        "export_csv_mariadb_s": maria_s,
        "export_json_s": json_s,
        "export_json_mariadb_s": maria_json_s,
        "csv_1m_params_ratio": params_s / psql_s,
        "csv_1m_params_same_bytes_as_psql": params_csv == psql_csv,
        "csv_1m_mariadb_ratio": maria_s / mariadb_s,
        "json_1m_ratio": json_s / csv_s,
        "json_1m_vs_row_path_ratio": json_s / params_s,
        "json_1m_mariadb_ratio": maria_json_s / maria_s,
        "export_rss_mb": export_peak,
    }


def _export(base: str, headers: dict, source: DataSource, sql: str, export_format: str, params=None):
    """(seconds, body) of one export through the server."""
    body = {"datasource": source.pk, "sql": sql, "format": export_format, "params": params}
    started = time.perf_counter()
    parts = []
    with requests.post(f"{base}/api/v1/queries/export", json=body, headers=headers, stream=True, timeout=900) as r:
        if r.status_code != 200:
            raise CommandError(f"export failed: {r.status_code} {r.text[:300]}")
        for chunk in r.iter_content(chunk_size=1 << 16):
            parts.append(chunk)
    return time.perf_counter() - started, b"".join(parts)


def _timed(argv: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    output = subprocess.run(argv, capture_output=True, check=True).stdout
    return time.perf_counter() - started, output


def _mariadb_args() -> list[str]:
    url = urlparse(os.environ.get("QUERYBASE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"))
    args = ["-h", url.hostname or "127.0.0.1", "-P", str(url.port or 3306), "-u", url.username or "root"]
    return args + ([f"-p{url.password}"] if url.password else [])


def _mariadb_source(pg: DataSource) -> DataSource:
    """The same 1M rows in MariaDB (made once), as a source the bench user may read."""
    url = urlparse(os.environ.get("QUERYBASE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"))
    host, port, user = url.hostname or "127.0.0.1", url.port or 3306, url.username or "root"
    connection = MySQLdb.connect(host=host, port=port, user=user, password=url.password or "")
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {MARIADB_DB}")
    cursor.execute(f"USE {MARIADB_DB}")
    cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [MARIADB_DB])
    if not cursor.fetchone()[0] or _count(cursor) != ROWS:
        cursor.execute("DROP TABLE IF EXISTS bench_rows")
        cursor.execute(
            "CREATE TABLE bench_rows (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), "
            "created DATETIME, flag BOOLEAN)"
        )
        cursor.execute(
            "INSERT INTO bench_rows SELECT seq, CONCAT('customer ', seq), (seq % 100000) / 100, "
            f"TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq MINUTE, seq % 2 = 0 FROM seq_1_to_{ROWS}"
        )
        connection.commit()
    connection.close()
    source, _ = DataSource.objects.update_or_create(
        name="bench-mariadb",
        defaults={
            "engine": "mysql",
            "host": host,
            "port": port,
            "database": MARIADB_DB,
            "username": user,
            "max_rows": ROWS,
            "statement_timeout_ms": 600_000,
        },
    )
    if url.password:
        source.set_password(url.password)
        source.save()
    for permission in DataSourcePermission.objects.filter(datasource=pg):
        DataSourcePermission.objects.update_or_create(
            group=permission.group, datasource=source, defaults={"can_read": True}
        )
    return source


def _count(cursor) -> int:
    try:
        cursor.execute("SELECT COUNT(*) FROM bench_rows")
    except MySQLdb.Error:
        return 0
    return cursor.fetchone()[0]


# Process memory -----------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (gunicorn's workers, Celery's pool)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = list(_children(pid))
        if found:
            return found
        time.sleep(0.1)
    raise CommandError(f"process {pid} started no child")


def _children(pid: int) -> Iterator[int]:
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            yield int(child)
            yield from _children(int(child))


def _reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        # 5: reset the peak RSS (VmHWM). Where it is refused, the figure includes the
        # process's earlier peak: never lower than the truth.
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _peak_mb(pids: list[int]) -> float:
    return max(_status_kb(pid, "VmHWM") for pid in pids) / 1024


def _rss_mb(pids: list[int], field: str) -> float:
    return max(_status_kb(pid, field) for pid in pids) / 1024


def report(f: dict) -> str:
    return "\n".join(
        [
            "Large results (one run; each beside its reference)",
            f"  1M rows stored via POST /queries       {f['large_result_store_s']:8.2f} s    "
            f"read back in {f['large_result_pages']} pages in {f['large_result_read_s']:.2f} s, "
            f"complete and in order: {f['large_result_complete']}",
            f"  peak RSS web / worker while stored+read {f['large_result_web_rss_mb']:7.1f} / "
            f"{f['large_result_worker_rss_mb']:.1f} MB   target: < 150 MB each "
            f"(after: {f['large_result_rss_after_mb']:.1f} MB, idle before: {f['large_result_rss_idle_mb']:.1f} MB)",
            f"  CSV with a parameter (row path)        {f['export_csv_params_s']:8.2f} s    "
            f"({f['csv_1m_params_ratio']:.2f}x psql \\copy {f['export_psql_copy_s']:.2f} s; same bytes: "
            f"{f['csv_1m_params_same_bytes_as_psql']})   target: <= 2x",
            f"  CSV on MariaDB                         {f['export_csv_mariadb_s']:8.2f} s    "
            f"({f['csv_1m_mariadb_ratio']:.2f}x mariadb --batch {f['export_mariadb_batch_s']:.2f} s)   target: <= 2x",
            f"  JSON export                            {f['export_json_s']:8.2f} s    "
            f"({f['json_1m_ratio']:.2f}x the CSV (COPY) {f['export_csv_copy_s']:.2f} s, "
            f"{f['json_1m_vs_row_path_ratio']:.2f}x the row path's CSV)   target: <= 2x",
            f"  JSON export on MariaDB                 {f['export_json_mariadb_s']:8.2f} s    "
            f"({f['json_1m_mariadb_ratio']:.2f}x the CSV on MariaDB)   target: <= 2x",
            f"  web workers' peak RSS over the exports {f['export_rss_mb']:8.1f} MB   target: < 150 MB",
        ]
    )
