"""A read left `running` by a process that died is run again, or failed once it has had
its attempts; a read whose process is alive is left alone."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from apps.queries import abandoned_runs, plan, run_lifecycle
from apps.queries.models import QueryRun
from apps.submissions.tasks import execute_read
from tests.support.crashes import postgres_holding, postgres_lock_waiters, settle_with, wait_until
from tests.support.factories import client_for
from tests.support.worker import PrivateWorker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SQL = "SELECT count(*) AS n FROM ledger"


def queued_read(team, **fields) -> QueryRun:
    """A read as submit_query leaves it for a worker, before any worker was told of it."""
    return QueryRun.objects.create(
        user=team.analyst, datasource=team.source, sql=SQL, sql_sha256=plan.sha256_of(SQL), **fields
    )


def status_of(run: QueryRun) -> str:
    return QueryRun.objects.get(pk=run.pk).status


def test_a_read_whose_whole_worker_was_killed_is_run_again(team, postgres_server):
    run = queued_read(team)
    log = settings.DATA_DIR / "private-worker.log"
    holding = postgres_holding(postgres_server, "LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE")
    with holding, PrivateWorker(log) as worker:
        execute_read.apply_async([str(run.pk)], queue=worker.queue)
        wait_until(lambda: len(postgres_lock_waiters(postgres_server)) == 1, "the read to wait")
        assert status_of(run) == "running"
        assert abandoned_runs.settle_abandoned_runs() == 0  # its worker is alive: left alone
        worker.kill()
        settle_with(abandoned_runs.settle_abandoned_runs, lambda: status_of(run) != "running", "the run to be settled")
    # Handed back to the queue, the suite's worker runs it again once the lock is gone.
    wait_until(lambda: status_of(run) == "succeeded", "the read to run again")
    body = client_for(team.analyst).get(f"/api/v1/queries/{run.pk}").json()
    assert body["status"] == "succeeded"
    assert QueryRun.objects.get(pk=run.pk).attempts == 2


def test_a_read_that_keeps_losing_its_process_ends_worker_lost(team):
    # Left running by a process that died on its last attempt: nobody holds its lock.
    run = queued_read(team, status="running", attempts=run_lifecycle.MAX_RUN_ATTEMPTS)
    assert abandoned_runs.settle_abandoned_runs() == 1
    body = client_for(team.analyst).get(f"/api/v1/queries/{run.pk}").json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "worker_lost"


def test_a_queued_read_whose_message_a_dead_worker_took_is_sent_again(team):
    # Queued, and its message gone with a worker killed whole (back only after an hour).
    run = queued_read(team)
    assert abandoned_runs.settle_abandoned_runs() == 0  # just queued: its message may be on its way
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=True):
        assert abandoned_runs.settle_abandoned_runs() == 1
        assert abandoned_runs.settle_abandoned_runs() == 0  # sent again once, not every minute
    wait_until(lambda: status_of(run) == "succeeded", "the read to run")
