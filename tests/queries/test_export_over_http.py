"""Exports as an HTTP client sees them, from gunicorn in its own process.

What the Django test client cannot show: a failure after the first byte must leave the
response broken on the wire (no terminating chunk), so a client raises instead of saving
a file that merely looks complete; before the first byte it is a JSON error.
"""

import csv
import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings

from apps.accounts.services import issue_api_key
from tests.support.databases import poll
from tests.support.factories import reader, source_from_server
from tests.support.worker import suite_database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
# Division by zero on row N: the database fails the read after sending N-1 rows.
FAILING_AT = "SELECT g, 1 / (g - {n}) AS boom FROM generate_series(1, {n} + 10) g"


@pytest.fixture(scope="module", params=["sync", "gthread"])
def server(request, django_db_setup, postgres_server) -> Iterator[str]:
    """gunicorn with one worker of each kind; it serves the test database, so it starts
    once that exists, and reads what the tests commit."""
    with gunicorn(request.param) as base:
        yield base


@pytest.fixture
def analyst(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)
    key = issue_api_key(reader("ana", pg), name="export test").secret
    return pg, {"Authorization": f"Api-Key {key}"}


def export(base: str, headers: dict, source, sql: str, export_format: str) -> requests.Response:
    body = {"datasource": source.id, "sql": sql, "format": export_format}
    return requests.post(f"{base}/api/v1/queries/export", json=body, headers=headers, stream=True, timeout=60)


@pytest.mark.parametrize("export_format", ["csv", "json"])  # csv: COPY; json: the rendered row stream
def test_a_failure_mid_stream_makes_the_client_raise(server, analyst, export_format):
    pg, headers = analyst
    response = export(server, headers, pg, FAILING_AT.format(n=50_000), export_format)
    assert response.status_code == 200
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(chunk_size=None):
            received += chunk
    assert len(received) > 0  # rows had gone out before the failure
    if export_format == "csv":
        assert received.decode().splitlines()[-1].startswith("#querybase:error code=query_failed")


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_a_failure_before_the_first_byte_is_a_json_error(server, analyst, export_format):
    pg, headers = analyst
    response = export(server, headers, pg, FAILING_AT.format(n=500), export_format)  # within the first chunk
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "query_failed"


def test_a_capped_export_announces_its_cap_and_ends_cleanly_with_its_marker(server, analyst):
    pg, headers = analyst
    pg.max_rows = 1000
    pg.save()
    response = export(server, headers, pg, "SELECT g FROM generate_series(1, 5000) g", "csv")
    assert response.headers["X-QueryBase-Row-Cap"] == "1000"
    rows = list(csv.reader(io.StringIO(response.content.decode())))  # read to its end: no error
    assert len(rows) == 1 + 1000 + 1
    assert rows[-1] == ["#querybase:truncated row_cap=1000"]


@contextmanager
def gunicorn(worker_class: str) -> Iterator[str]:
    """gunicorn serving the test database on a free port of 18100-18199."""
    port = _free_port_in_range()
    log = (settings.DATA_DIR / f"gunicorn-{worker_class}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "querybase.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            worker_class,
            # Its own default is one socket per user: servers of parallel suites would share it.
            "--no-control-socket",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": suite_database_url()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: process.poll() is not None or _answers(f"{base}/health"), timeout=60)
        assert process.poll() is None, f"gunicorn exited; see {log.name}"
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.RequestException:  # not listening yet, or its worker still booting
        return False
    return True


def _free_port_in_range() -> int:
    for port in range(18100, 18200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18100-18199")
