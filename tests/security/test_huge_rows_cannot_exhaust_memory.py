"""A reader cannot make a server process eat the machine's memory with huge rows.

Rows arrive a network chunk at a time (2,000 rows on PostgreSQL), held whole by the
driver before QueryBase sees one, so `SELECT repeat('x', 50000000) FROM
generate_series(1, 40)` asks a process for 2 GB. Each web and worker process has a memory
ceiling (QUERYBASE_PROCESS_MEMORY_LIMIT_MB): the allocation fails inside libpq, the read
fails with a clear 400, and the same process serves the next request."""

import pytest
import requests

from apps.accounts.services import issue_api_key
from tests.support.factories import reader, source_from_server
from tests.support.servers import shipped_server

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = "SELECT repeat('x', 50000000) AS v FROM generate_series(1, 40)"


def test_rows_larger_than_the_process_may_hold_fail_the_read_and_the_server_serves_on(tmp_path, postgres_server):
    source = source_from_server("pg", "postgresql", postgres_server, max_rows=1000)
    key = issue_api_key(reader("ana", source), name="huge").secret
    headers = {"Authorization": f"Api-Key {key}"}
    # The read runs in the web process itself (a budget longer than it takes), one worker.
    env = {"QUERYBASE_PROCESS_MEMORY_LIMIT_MB": "500", "QUERYBASE_INLINE_BUDGET_MS": "60000"}
    with shipped_server(tmp_path / "web.log", env=env) as base:
        body = {"datasource": source.pk, "sql": HUGE, "max_age": 0, "wait": 60}
        response = requests.post(f"{base}/api/v1/queries", json=body, headers=headers, timeout=120)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "query_failed"
        assert "too large" in error["message"] and "QUERYBASE_PROCESS_MEMORY_LIMIT_MB" in error["message"]
        # The same process goes on serving reads.
        body = {"datasource": source.pk, "sql": "SELECT 41 + 1 AS answer", "max_age": 0}
        again = requests.post(f"{base}/api/v1/queries", json=body, headers=headers, timeout=30)
        assert again.status_code == 200, again.text
        assert again.json()["result"]["rows"] == [[42]]
