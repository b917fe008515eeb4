"""An inline read is recorded and locked in as few statements as possible
(querybase/inserts.py, querybase/session_locks.SessionLock), and still: it holds its
run's lock from the statement that makes it to the one that ends it, leaves no lock
behind however it ends, can be cancelled in the database while it runs, and is in
history with both of its audit events."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.queries import abandoned_runs
from apps.queries.locks import lock_key, runs_with_live_process
from apps.queries.models import QueryRun
from querybase import session_locks
from tests.support.crashes import postgres_holding, postgres_lock_waiters, wait_until
from tests.support.factories import client_for

pytestmark = [pytest.mark.django_db(transaction=True)]

SQL = "SELECT count(*) AS n FROM ledger"


def submit(team, sql: str = SQL, **extra):
    body = {"datasource": team.source.pk, "sql": sql, "max_age": 0, "wait": 30, **extra}
    return client_for(team.analyst).post("/api/v1/queries", body, format="json")


def no_run_lock_held() -> bool:
    keys = [lock_key(pk) for pk in QueryRun.objects.values_list("pk", flat=True)]
    return session_locks.held(session_locks.QUERY_RUN, keys) == set()


def actions_on(run_id) -> list[str]:
    return list(AuditEvent.objects.filter(object_id=str(run_id)).order_by("id").values_list("action", flat=True))


def test_an_inline_read_holds_its_lock_while_it_runs_and_leaves_none_after(team, postgres_server, settings):
    settings.QUERYBASE_INLINE_BUDGET_MS = 30_000  # keep it in this process, waiting on the table lock
    answers = []
    with postgres_holding(postgres_server, "LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE"):
        reader = threading.Thread(target=lambda: (answers.append(submit(team)), connection.close()))
        reader.start()
        wait_until(lambda: len(postgres_lock_waiters(postgres_server)) == 1, "the read to wait")
        run = QueryRun.objects.get()
        assert run.status == "running"
        assert runs_with_live_process([run.pk]) == {run.pk}  # the INSERT took the lock
        assert abandoned_runs.settle_abandoned_runs() == 0  # so the sweeper leaves it alone
    reader.join(timeout=30)

    assert answers[0].status_code == 200, answers[0].content
    assert answers[0].json()["result"]["rows"] == [[5]]
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.backend_id.split(":")[-1].startswith("querybase-read-")  # the session that answered
    assert no_run_lock_held()  # the statement that ended it gave the lock back
    assert actions_on(run.pk) == ["query.run", "query.finished"]


def test_a_failed_inline_read_is_recorded_and_leaves_no_lock(team):
    response = submit(team, "SELECT no_such_column FROM ledger")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "query_failed"
    run = QueryRun.objects.get(pk=error["details"]["run"])
    assert run.status == "failed"
    assert no_run_lock_held()
    assert actions_on(run.pk) == ["query.run", "query.finished"]
    finished = AuditEvent.objects.get(object_id=str(run.pk), action="query.finished")
    assert finished.detail["status"] == "failed"


def test_a_running_inline_read_is_cancelled_in_the_database(team, postgres_server, settings):
    settings.QUERYBASE_INLINE_BUDGET_MS = 30_000
    answers = []
    with postgres_holding(postgres_server, "LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE"):
        reader = threading.Thread(target=lambda: (answers.append(submit(team)), connection.close()))
        reader.start()
        wait_until(lambda: len(postgres_lock_waiters(postgres_server)) == 1, "the read to wait")
        run = QueryRun.objects.get()
        # The run was recorded with its session's name, so the cancel needs nothing more.
        assert run.backend_id.startswith("querybase-read-")
        cancelled = client_for(team.analyst).post(f"/api/v1/queries/{run.pk}/cancel")
        assert cancelled.status_code == 200, cancelled.content
        reader.join(timeout=30)

    assert answers[0].status_code == 409, answers[0].content
    assert answers[0].json()["error"]["code"] == "query_cancelled"
    assert QueryRun.objects.get(pk=run.pk).status == "cancelled"
    assert len(postgres_lock_waiters(postgres_server)) == 0  # stopped in the database, not only here
    assert no_run_lock_held()


def test_a_cache_hit_takes_no_lock_and_is_recorded(team):
    first = submit(team, max_age=None).json()
    hit = submit(team, max_age=None).json()

    assert hit["cached"] is True
    assert hit["result"]["rows"] == first["result"]["rows"]
    assert no_run_lock_held()
    assert actions_on(hit["id"]) == ["query.run"]  # born succeeded: no second event


def test_an_uncached_read_costs_two_metadata_statements_and_a_cache_hit_one(team):
    assert submit(team, max_age=None).status_code == 200  # the rights map, the pool, the cache: warm

    with CaptureQueriesContext(connection) as uncached:
        fresh = submit(team).json()
    with CaptureQueriesContext(connection) as cached:
        hit = submit(team, max_age=None).json()

    assert (fresh["status"], fresh["cached"], hit["cached"]) == ("succeeded", False, True)
    # The run, its event and its lock; then its end, its event and the lock's release.
    assert len(uncached.captured_queries) == 2, [query["sql"][:80] for query in uncached.captured_queries]
    assert len(cached.captured_queries) == 1, [query["sql"][:80] for query in cached.captured_queries]
    assert actions_on(fresh["id"]) == ["query.run", "query.finished"]
    assert actions_on(hit["id"]) == ["query.run"]
