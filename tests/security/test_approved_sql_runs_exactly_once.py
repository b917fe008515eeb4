"""Invariant 3: exactly the approved SQL, exactly once — against double clicks, duplicate
task deliveries, two workers, tampering, and a worker killed mid-write."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from apps.approvals import execution
from apps.approvals.models import ApprovalRequest, ApprovalReview
from apps.approvals.tasks import execute_approved_request
from apps.audit.models import AuditEvent
from tests.support.approvals import Team, ledger, settle
from tests.support.databases import SOURCE_DB, mysql_root
from tests.support.factories import source_from_server
from tests.support.worker import wait_until_worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def in_threads(count: int, action):
    results, barrier = [None] * count, threading.Barrier(count)

    def run(index: int):
        barrier.wait()
        try:
            results[index] = action()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_double_approval_click_runs_once(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = amount + 1")["id"]
    statuses = in_threads(4, lambda: team.review(request_id, "approve").status_code)
    assert sorted(statuses) == [200, 409, 409, 409]
    assert settle(request_id).status == "succeeded"
    wait_until_worker_idle()  # every queued delivery has had its chance to run again
    assert ledger(postgres_server) == (5, 55)


def test_duplicate_deliveries_and_racing_workers_run_once(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = amount + 1")["id"]
    # Approved (by an eligible reviewer, so execution accepts it), nothing queued yet.
    ApprovalReview.objects.create(request_id=request_id, reviewer=team.approver, decision="approve")
    ApprovalRequest.objects.filter(pk=request_id).update(status="approved")
    for _ in range(3):
        execute_approved_request.delay(request_id)  # the broker delivering the same job three times
    outcomes = in_threads(3, lambda: execution.execute_approved(request_id).ran)  # and three more executors
    approval = settle(request_id)
    wait_until_worker_idle()  # all three deliveries are done
    assert approval.status == "succeeded"
    assert ledger(postgres_server) == (5, 55)
    # Exactly one of the six executors ran it: one execution recorded, whoever it was.
    executions = AuditEvent.objects.filter(action="approval.execute", object_id=str(request_id))
    assert executions.count() == 1
    assert outcomes.count(True) <= 1  # the threads' share of that one execution


def test_only_the_approved_text_runs(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    # Someone edits the stored SQL after submission (say, straight in the database).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE approvals_approvalrequest SET sql = 'DELETE FROM ledger' WHERE id = %s", [request_id])
    team.review(request_id, "approve")
    approval = settle(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "hash_mismatch"
    assert ledger(postgres_server) == (5, 50)


def test_only_the_approved_parameters_run(team, postgres_server):
    """Found by an outside attack: the hash covered the SQL only, so parameters edited after
    approval (straight in the database) ran with the approved text: another row changed."""
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = $1", params=[1])["id"]
    # Approved by an eligible reviewer, not yet queued: the approver saw `[1]`…
    ApprovalReview.objects.create(request_id=request_id, reviewer=team.approver, decision="approve")
    ApprovalRequest.objects.filter(pk=request_id).update(status="approved")
    with connection.cursor() as cursor:  # …then someone edits them before it runs
        cursor.execute("UPDATE approvals_approvalrequest SET params = '[2]' WHERE id = %s", [request_id])
    execution.execute_approved(request_id)
    approval = ApprovalRequest.objects.get(pk=request_id)
    assert approval.status == "failed"
    assert approval.error_code == "hash_mismatch"
    assert ledger(postgres_server) == (5, 50)


def test_parameters_the_database_spells_differently_still_run(team, postgres_server):
    # jsonb reorders keys and writes 1e16 as 10000000000000000: the digest is of the
    # parameters as stored, so what was approved still runs.
    params = {"id": 1, "amount": 7, "big": 1e16}
    request_id = team.request_write("UPDATE ledger SET amount = :amount WHERE id = :id AND :big > 0", params=params)[
        "id"
    ]
    team.review(request_id, "approve")
    assert settle(request_id).status == "succeeded"
    assert ledger(postgres_server) == (5, 47)


def test_worker_killed_mid_write_leaves_it_failed_and_never_reruns(team, postgres_server, celery_worker):
    sql = "UPDATE ledger SET amount = amount + 100 WHERE id = 1 AND pg_sleep(3) IS NOT NULL"
    request_id = team.request_write(sql)["id"]
    team.review(request_id, "approve")
    deadline = time.monotonic() + 15
    while not _update_is_running_in(postgres_server):
        assert time.monotonic() < deadline, "the write never reached the database"
        time.sleep(0.05)
    assert ApprovalRequest.objects.get(pk=request_id).status == "executing"
    for child in _pool_children(celery_worker.pid):
        os.kill(child, signal.SIGKILL)
    approval = settle(request_id, timeout=60)
    assert approval.status == "failed"
    # Settled from the outcome marker: the killed write never reached its COMMIT.
    assert approval.error_code == "interrupted_not_applied"
    assert "never re-runs" in approval.error_message
    wait_until_worker_idle()  # the returned message has been handled: a (wrong) second run would be done
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (10,)
    assert ApprovalRequest.objects.get(pk=request_id).status == "failed"


def _update_is_running_in(postgres_server) -> bool:
    """The approved UPDATE is executing in PostgreSQL (mid-write is where the kill must land)."""
    import psycopg

    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname="postgres"
    ) as admin:
        return bool(
            admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                "AND pid <> pg_backend_pid() AND datname = %s",
                ["UPDATE ledger SET amount = amount + 100%", postgres_server.database],
            ).fetchone()[0]
        )


def _pool_children(worker_pid: int) -> list[int]:
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_mariadb_write_runs_once(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    root = mysql_root()
    cursor = root.cursor()
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {SOURCE_DB}.counter (id INT PRIMARY KEY, n INT) ENGINE=InnoDB")
    cursor.execute(f"REPLACE INTO {SOURCE_DB}.counter VALUES (1, 0)")
    root.commit()
    team = Team(maria)
    request_id = team.request_write("UPDATE counter SET n = n + 1 WHERE id = 1")["id"]
    in_threads(3, lambda: team.review(request_id, "approve").status_code)
    for _ in range(2):
        execute_approved_request.delay(request_id)
    assert settle(request_id).status == "succeeded"
    wait_until_worker_idle()  # the second delivery has run (and done nothing)
    cursor.execute(f"SELECT n FROM {SOURCE_DB}.counter WHERE id = 1")
    assert cursor.fetchone()[0] == 1
    root.close()
