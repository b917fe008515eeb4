"""Identical reads in flight at the same moment run once on the source (single flight);
each submission is still a run of its own in history and in the audit log.

The source counts its executions itself: the query calls a STABLE function that, before
it sleeps, inserts a row over its own dblink connection (which the read-only transaction
does not cover), so the count is what the database saw, not what QueryBase says. A read
may call it because the two functions it calls are C and internal ones declared STABLE,
which only a superuser can make and which the read rule judges by their declaration (as
it does an extension's): dblink's `dblink_exec` and `pg_sleep` under names of their own."""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.queries import result_store, run_finished_signal, single_flight
from apps.queries.models import QueryRun, ResultLocation, RunStatus
from tests.support.factories import client_for, make_datasource, make_user, reader, source_from_server

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
            "CREATE OR REPLACE FUNCTION flight_count(text, text) RETURNS text LANGUAGE c STABLE "
            "AS '$libdir/dblink', 'dblink_exec'"
        )
        connection.execute(
            "CREATE OR REPLACE FUNCTION flight_pause(float8) RETURNS void LANGUAGE internal STABLE AS 'pg_sleep'"
        )
        connection.execute(
            f"""
            CREATE OR REPLACE FUNCTION counted_slow_read(answer int) RETURNS int LANGUAGE plpgsql STABLE AS $$
            BEGIN
                PERFORM flight_count('{conninfo}', 'INSERT INTO flight_executions DEFAULT VALUES'),
                    flight_pause(0.4);
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
        connection.execute(
            "DROP FUNCTION IF EXISTS counted_slow_read(int), flight_count(text, text), flight_pause(float8)"
        )
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


def leader_run(source, user, cache_key: str, status: str) -> QueryRun:
    """A run that read `source` for `cache_key`, as the leader of its flight."""
    return QueryRun.objects.create(
        user=user, datasource=source, sql=SQL, cache_key=cache_key, status=status, finished_at=timezone.now()
    )


def test_a_follower_that_sees_the_leader_succeed_before_its_result_is_cached_waits_for_it(counting_source):
    """Found in a full run under load: the leader's status moves to succeeded a moment
    before its result is cached and announced (run_lifecycle._finish_succeeded). A follower
    looking in between took the finished leader for one without a result and read the
    source a second time."""
    source, _ = counting_source
    user = reader("ana", source)
    cache_key = result_store.cache_key_for(source, SQL, None)
    leader = leader_run(source, user, cache_key, RunStatus.SUCCEEDED)  # succeeded, nothing cached yet
    answers: list = []

    def follow() -> None:
        from django.db import connection

        try:
            answers.append(single_flight.follow(str(leader.pk), cache_key, 10))
        finally:
            connection.close()

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.1)  # the follower has looked once: the leader succeeded, no result cached yet
    result = {"columns": [{"name": "v", "type": "int4"}], "rows": [[7]], "row_count": 1, "truncated": False}
    result_store.remember_for_cache(leader, result, ResultLocation.CACHE, source.cache_ttl_seconds)
    run_finished_signal.announce_finished(str(leader.pk))
    follower.join(timeout=10)

    assert answers and answers[0] is not None, "the follower gave up on a leader whose result was on its way"
    assert answers[0].run_id == str(leader.pk)
    assert answers[0].result["rows"] == [[7]]


def test_a_follower_of_a_leader_that_failed_stops_waiting_at_once():
    # No result is coming: the follower runs the read itself, without a grace period.
    user = make_user("ana")
    source = make_datasource("shop")
    cache_key = result_store.cache_key_for(source, SQL, None)
    leader = leader_run(source, user, cache_key, RunStatus.FAILED)
    assert single_flight.follow(str(leader.pk), cache_key, 10) is None


def test_a_submission_reaching_the_flight_just_after_it_landed_follows_the_finished_run():
    """A submission that missed the cache just before the leader's result landed, and
    takes the flight just after the leader let it go, follows that run (whose result is
    cached by then) rather than leading a second read of the source."""
    cache_key = "q" * 32 + "g" * 32
    assert single_flight.take(cache_key, "leader", 30_000) is None
    single_flight.release(cache_key, "leader")
    assert single_flight.take(cache_key, "late", 30_000) == "leader"
    # Another generation (a write on the source since) is another question: it leads.
    assert single_flight.take("q" * 32 + "h" * 32, "after-a-write", 30_000) is None


def test_a_follower_never_takes_an_older_result_than_it_asked_for(counting_source):
    """While a read asked with `max_age` is in flight, the cache may still hold an older
    result of the same question: a follower asking as fresh waits for the leader's."""
    source, _ = counting_source
    user = reader("ana", source)
    cache_key = result_store.cache_key_for(source, SQL, None)
    result = {"columns": [{"name": "v", "type": "int4"}], "rows": [[7]], "row_count": 1, "truncated": False}
    old = leader_run(source, user, cache_key, RunStatus.SUCCEEDED)
    old.finished_at = timezone.now() - timedelta(minutes=5)
    result_store.remember_for_cache(old, {**result, "rows": [[6]]}, ResultLocation.CACHE, source.cache_ttl_seconds)
    leader = leader_run(source, user, cache_key, RunStatus.RUNNING)
    answers: list = []

    def follow() -> None:
        from django.db import connection

        try:
            answers.append(single_flight.follow(str(leader.pk), cache_key, 10, max_age_seconds=60))
        finally:
            connection.close()

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.1)
    leader.status, leader.finished_at = RunStatus.SUCCEEDED, timezone.now()
    leader.save()
    result_store.remember_for_cache(leader, result, ResultLocation.CACHE, source.cache_ttl_seconds)
    run_finished_signal.announce_finished(str(leader.pk))
    follower.join(timeout=10)

    assert answers and answers[0] is not None
    assert (answers[0].run_id, answers[0].result["rows"]) == (str(leader.pk), [[7]])
