"""POST /api/v1/queries and the run endpoints, with the real Celery worker and real databases."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.queries.models import QueryRun
from tests.support.factories import (
    client_for,
    grant,
    make_datasource,
    make_group,
    make_user,
    reader,
    source_from_server,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def submit(client, source, sql, **extra):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, **extra}, format="json")


def test_analyst_runs_a_read_and_gets_rows(shop):
    client = client_for(reader("ana", shop))
    response = submit(client, shop, "SELECT id, name, country FROM customers ORDER BY id LIMIT 3")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["cached"] is False
    assert body["verdict"] == "read"
    result = body["result"]
    assert [column["name"] for column in result["columns"]] == ["id", "name", "country"]
    assert result["rows"][0] == [1, "Uma Nguyen", "US"]
    assert result["row_count"] == 3
    assert result["truncated"] is False
    assert result["took_ms"] >= 0
    assert AuditEvent.objects.filter(action="query.run", object_id=body["id"]).exists()


def test_postgresql_and_mariadb_reads(postgres_server, mysql_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    maria = source_from_server("maria", "mysql", mysql_server)
    client = client_for(reader("ana", pg, maria))
    for source in (pg, maria):
        body = submit(client, source, "SELECT id, name FROM customers ORDER BY id").json()
        assert body["result"]["rows"] == [[1, "Ada"], [2, "Ben"]], source.engine


def test_same_query_is_answered_from_the_cache_until_max_age_zero(shop):
    client = client_for(reader("ana", shop))
    sql = "SELECT count(*) AS n FROM orders"
    first = submit(client, shop, sql).json()
    second = submit(client, shop, sql).json()
    assert second["cached"] is True
    assert second["computed_at"] == first["computed_at"]
    assert second["result"] == first["result"]
    fresh = submit(client, shop, sql, max_age=0).json()
    assert fresh["cached"] is False
    assert fresh["computed_at"] != first["computed_at"]
    assert QueryRun.objects.filter(from_cache=True).count() == 1


def test_max_age_older_than_the_cached_result_runs_again(shop):
    client = client_for(reader("ana", shop))
    submit(client, shop, "SELECT 1 AS one")
    # The clock moves on (not the cache's own TTL in Redis): the result is now 5 s old.
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert submit(client, shop, "SELECT 1 AS one", max_age=1).json()["cached"] is False
        assert submit(client, shop, "SELECT 1 AS one", max_age=60).json()["cached"] is True


def test_source_with_caching_off_always_runs(shop):
    shop.cache_ttl_seconds = 0
    shop.save()
    client = client_for(reader("ana", shop))
    submit(client, shop, "SELECT 1 AS one")
    assert submit(client, shop, "SELECT 1 AS one").json()["cached"] is False


def test_wait_zero_gives_a_job_to_poll(shop):
    client = client_for(reader("ana", shop))
    response = submit(client, shop, "SELECT count(*) FROM order_items", wait=0)
    assert response.status_code == 202
    run_id = response.json()["id"]
    assert response.json()["status"] in {"queued", "running", "succeeded"}
    polled = client.get(f"/api/v1/queries/{run_id}?wait=10").json()
    assert polled["status"] == "succeeded"
    assert polled["result"]["rows"] == [[5452]]


def test_row_cap_truncates(shop):
    shop.max_rows = 10
    shop.save()
    result = submit(client_for(reader("ana", shop)), shop, "SELECT id FROM orders").json()["result"]
    assert result["row_count"] == 10
    assert result["truncated"] is True


def test_sql_error_is_a_400_with_the_database_message(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    response = submit(client_for(reader("ana", pg)), pg, "SELECT * FROM no_such_table")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "query_failed"
    assert 'relation "no_such_table" does not exist' in error["message"]
    run = QueryRun.objects.get(pk=error["details"]["run"])
    assert run.status == "failed"


def test_statement_timeout_stops_a_long_read(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server, statement_timeout_ms=300)
    # Counting to 500 million takes minutes: a 400 query_timeout (not a result) is the limit at work.
    response = submit(client_for(reader("ana", pg)), pg, "SELECT count(*) FROM generate_series(1, 500000000)")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "query_timeout"


def test_cancel_stops_the_query_in_the_database(postgres_server):
    import psycopg

    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    sql = "SELECT count(*) FROM generate_series(1, 2000000000) /* cancel-me */"
    run_id = submit(client, pg, sql, wait=0).json()["id"]
    deadline = time.monotonic() + 10
    while QueryRun.objects.get(pk=run_id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = client.post(f"/api/v1/queries/{run_id}/cancel")
    # The answer comes once the read has stopped, not when a signal was merely sent (a
    # signal landing between the read's setup statements and its query is lost).
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    final = client.get(f"/api/v1/queries/{run_id}?wait=10").json()
    assert final["status"] == "cancelled"
    assert final["error"]["code"] == "query_cancelled"
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname="postgres"
    ) as conn:
        # Only this suite's source database: another checkout's suite may run the same test.
        active = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%cancel-me%%' AND state = 'active' "
            "AND pid <> pg_backend_pid() AND datname = %s",
            [postgres_server.database],
        ).fetchone()[0]
    assert active == 0
    assert client.post(f"/api/v1/queries/{run_id}/cancel").status_code == 409


def test_a_write_becomes_an_approval_request(shop):
    writer = reader("wendy", shop, write=True)
    response = submit(client_for(writer), shop, "DELETE FROM orders WHERE id = 1", reason="duplicate order")
    assert response.status_code == 202
    approval = response.json()["approval"]
    assert (approval["status"], approval["reason"], approval["write_kinds"]) == ("pending", "duplicate order", ["dml"])
    assert approval["classification"]["verdict"] == "write"


def test_a_write_without_write_right_is_403(shop):
    response = submit(client_for(reader("ana", shop)), shop, "UPDATE products SET price = 0")
    assert response.status_code == 403


def test_writer_without_read_right_may_not_read(shop):
    group = make_group("writers")
    grant(group, shop, write=True)
    response = submit(client_for(make_user("wo", groups=(group,))), shop, "SELECT 1")
    assert response.status_code == 403


def test_source_without_rights_is_404_and_bad_bodies_are_400(shop):
    stranger = client_for(make_user("stranger"))
    assert submit(stranger, shop, "SELECT 1").status_code == 404
    client = client_for(reader("ana", shop))
    for body in [
        {},
        {"datasource": shop.id},
        {"datasource": "x", "sql": "SELECT 1"},
        {"datasource": shop.id, "sql": 5},
        {"datasource": shop.id, "sql": "SELECT 1", "wait": -1},
        {"datasource": shop.id, "sql": "SELECT 1", "params": "1"},
    ]:
        response = client.post("/api/v1/queries", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    empty = submit(client, shop, "  -- nothing here\n ; ")
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "empty_query"


def test_unknown_run_is_404():
    client = client_for(make_user("ana"))
    assert client.get("/api/v1/queries/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/api/v1/queries/not-a-uuid").status_code == 404


def test_other_users_runs_are_invisible(shop):
    run_id = submit(client_for(reader("ana", shop)), shop, "SELECT 1").json()["id"]
    bob = client_for(reader("bob", shop))
    assert bob.get(f"/api/v1/queries/{run_id}").status_code == 404
    assert bob.post(f"/api/v1/queries/{run_id}/cancel").status_code == 404


def test_rate_limit_answers_429_with_retry_after(shop, settings):
    settings.QUERYBASE_QUERY_RATE = "3/min"
    client = client_for(reader("ana", shop))
    statuses = [submit(client, shop, "SELECT 1").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = submit(client, shop, "SELECT 1")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) > 0


def test_a_read_slower_than_the_inline_budget_is_handed_to_the_worker(postgres_server, settings):
    # The budget counts from the request's start (checking rights and classifying spend
    # it too), so it leaves room for those on a busy machine.
    settings.QUERYBASE_INLINE_BUDGET_MS = 300
    pg = source_from_server("pg", "postgresql", postgres_server)
    # The longest wait the API allows: the worker's full count takes seconds, more on a busy machine.
    response = submit(client_for(reader("ana", pg)), pg, "SELECT count(*) FROM generate_series(1, 30000000)", wait=60)
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[30000000]]
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert run.attempts == 2  # stopped inline within 300 ms, then run to the end by the worker


def test_a_fast_read_is_answered_without_the_queue(shop):
    response = submit(client_for(reader("ana", shop)), shop, "SELECT 42 AS answer")
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.attempts) == ("succeeded", 1)


def test_an_unreachable_source_is_retried_then_reported():
    from tests.support.databases import free_port

    # A closed port refuses at once, in this process and in the worker alike (a settings
    # override here would not reach the worker's process anyway).
    gone = make_datasource("gone", engine="postgresql", host="127.0.0.1", port=free_port(), database="x", username="x")
    started = time.monotonic()
    response = submit(client_for(reader("ana", gone)), gone, "SELECT 1", wait=30)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "datasource_unavailable"
    run = QueryRun.objects.get(pk=response.json()["error"]["details"]["run"])
    assert run.attempts == 4  # inline, then the worker's first try and two retries
    # Backoff between the worker's tries (the base, then twice it). A lower bound only: a
    # busy machine makes this longer, never shorter, so it cannot flake; a missing backoff
    # makes it fail.
    assert time.monotonic() - started >= settings.QUERYBASE_READ_RETRY_BASE_SECONDS * (1 + 2)


def test_a_write_can_be_classified_without_creating_a_request(shop):
    from apps.approvals.models import ApprovalRequest

    writer = client_for(reader("wendy", shop, write=True))
    response = submit(writer, shop, "DELETE FROM orders WHERE id = 1", request_approval=False)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "approval_required"
    assert error["details"]["classification"]["statements"][0]["kind"] == "dml"
    assert not ApprovalRequest.objects.exists()


def test_a_misspelt_field_is_refused_not_ignored(shop):
    """`max_agee: 0` ignored would serve the cached answer the caller asked not to get;
    `sandbx` ignored would read the source instead of the copy. Each is a 400 naming it."""
    client = client_for(reader("ana", shop))
    sql = "SELECT count(*) FROM customers"
    assert submit(client, shop, sql).status_code == 200
    for path, extra, unknown in (
        ("/api/v1/queries", {"max_agee": 0}, "max_agee"),
        ("/api/v1/queries", {"sandbx": 1, "wait": 5}, "sandbx"),
        ("/api/v1/queries/export", {"fromat": "json"}, "fromat"),
        ("/api/v1/queries/analyze", {"params": [1]}, "params"),
    ):
        response = client.post(path, {"datasource": shop.id, "sql": sql, **extra}, format="json")
        assert response.status_code == 400, (path, response.content)
        details = response.json()["error"]["details"]
        assert list(details) == [unknown], details
        assert "it takes: datasource, sql" in str(details[unknown]), details
    assert QueryRun.objects.count() == 1  # nothing of the refused ones ran or was recorded
