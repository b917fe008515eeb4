"""Identical reads in flight at the same moment run once on the source (single flight);
each submission is still a run of its own in history and in the audit log.

The source counts its executions itself: the query calls a STABLE function that, before
it sleeps, inserts a row over its own dblink connection (which the read-only transaction
does not cover), so the count is what the database saw, not what QueryBase says."""

import threading

import psycopg
import pytest

from apps.audit.models import AuditEvent
from apps.queries.models import QueryRun
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

CLIENTS = 6
SQL = "SELECT counted_slow_read(7) AS v"


@pytest.fixture
def counting_source(postgres_server):
    server = postgres_server
    conninfo = f"host={server.host} port={server.port} user={server.username} dbname={server.database}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        connection.execute("DROP TABLE IF EXISTS flight_executions")
        connection.execute("CREATE TABLE flight_executions (at timestamptz DEFAULT clock_timestamp())")
        connection.execute(
            f"""
            CREATE OR REPLACE FUNCTION counted_slow_read(answer int) RETURNS int LANGUAGE plpgsql STABLE AS $$
            BEGIN
                PERFORM dblink_exec('{conninfo}', 'INSERT INTO flight_executions DEFAULT VALUES');
                PERFORM pg_sleep(0.4);
                RETURN answer;
            END $$
            """
        )

    def executions() -> int:
        with psycopg.connect(conninfo) as connection:
            return connection.execute("SELECT count(*) FROM flight_executions").fetchone()[0]

    source = source_from_server("flights", "postgresql", server, cache_ttl_seconds=600)
    yield source, executions
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("DROP FUNCTION IF EXISTS counted_slow_read(int)")
        connection.execute("DROP TABLE IF EXISTS flight_executions")


def submit_at_once(source, users, **extra) -> list:
    """Every user posts the same read at the same moment, each from a thread of its own."""
    responses: list = [None] * len(users)
    start = threading.Barrier(len(users))

    def post(index: int) -> None:
        from django.db import connection

        client = client_for(users[index])
        start.wait()
        try:
            responses[index] = client.post(
                "/api/v1/queries", {"datasource": source.id, "sql": SQL, "wait": 60, **extra}, format="json"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.fixture
def generous_inline_budget(settings):
    # The read sleeps; under load it must not be handed to a worker (which would run it again).
    settings.QUERYBASE_INLINE_BUDGET_MS = 30_000


@pytest.mark.usefixtures("generous_inline_budget")
def test_identical_reads_in_flight_run_once(counting_source):
    source, executions = counting_source
    users = [reader(f"analyst{index}", source) for index in range(CLIENTS)]

    responses = submit_at_once(source, users)

    assert [response.status_code for response in responses] == [200] * CLIENTS, [r.content for r in responses]
    assert all(response.json()["result"]["rows"] == [[7]] for response in responses)
    assert executions() == 1
    # One of them read the source; the others were answered with its result.
    assert sorted(response.json()["cached"] for response in responses) == [False] + [True] * (CLIENTS - 1)
    # Every submission is in history, as its user's run, and audited.
    runs = QueryRun.objects.filter(datasource=source)
    assert runs.count() == CLIENTS
    assert {run.user.username for run in runs} == {user.username for user in users}
    origin = runs.get(from_cache=False)
    assert set(runs.filter(from_cache=True).values_list("source_run_id", flat=True)) == {origin.pk}
    assert AuditEvent.objects.filter(action="query.run", object_id__in=[str(run.pk) for run in runs]).count() == CLIENTS


@pytest.mark.usefixtures("generous_inline_budget")
def test_reads_asked_fresh_each_run(counting_source):
    """max_age 0 asks for the source as it is now: a read already in flight may be older."""
    source, executions = counting_source
    users = [reader(f"analyst{index}", source) for index in range(3)]

    responses = submit_at_once(source, users, max_age=0)

    assert [response.status_code for response in responses] == [200] * 3
    assert executions() == 3
    assert [response.json()["cached"] for response in responses] == [False] * 3
