"""What a dead worker leaves of an approved write is settled by the sweeper, never re-run;
where the source keeps outcome markers, the settlement says whether the write committed.

The worker is one of the test's own (PrivateWorker) and the whole of it is SIGKILLed:
before its COMMIT, while the write waits on a row the test holds, or after it, while the
worker waits to record success on a metadata row the test holds."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.approvals import execution, interrupted_writes
from apps.approvals.models import ApprovalRequest
from apps.approvals.tasks import execute_approved_request
from apps.datasources.connectors import CredentialRole, connector_for
from tests.support.approvals import Team, approved_but_not_queued, ledger, ledger_source, settle
from tests.support.crashes import (
    mysql_holding,
    mysql_lock_waiters,
    mysql_rows,
    mysql_session_alive,
    postgres_holding,
    postgres_lock_waiters,
    postgres_session_alive,
    settle_with,
    wait_until,
)
from tests.support.databases import SOURCE_DB, mysql_root, postgres_admin_url
from tests.support.factories import client_for, source_from_server
from tests.support.worker import PrivateWorker, suite_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

WRITE = "UPDATE ledger SET amount = amount + 100 WHERE id = 1"
HOLD_ROW = "SELECT * FROM {ledger} WHERE id = 1 FOR UPDATE"


class PostgresLedger:
    def __init__(self, server):
        self.server = server
        self.team = Team(ledger_source(server))

    def holding_row(self):
        return postgres_holding(self.server, HOLD_ROW.format(ledger="ledger"))

    def lock_waiters(self) -> set[int]:
        return postgres_lock_waiters(self.server)

    def session_alive(self, session: int) -> bool:
        return postgres_session_alive(self.server, session)

    def amount(self) -> int:
        return ledger(self.server, "SELECT amount FROM ledger WHERE id = 1")[0]

    def markers(self, request_id: int) -> list[tuple]:
        with psycopg.connect(host=self.server.host, port=self.server.port, user="postgres", dbname=SOURCE_DB) as db:
            if db.execute("SELECT to_regclass('querybase_write_outcomes')").fetchone()[0] is None:
                return []
            return db.execute(
                "SELECT sql_sha256, applied FROM querybase_write_outcomes WHERE request_id = %s", [request_id]
            ).fetchall()


class MariaDBLedger:
    def __init__(self, server):
        root = mysql_root()
        cursor = root.cursor()
        cursor.execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.ledger")
        cursor.execute(f"CREATE TABLE {SOURCE_DB}.ledger (id INT PRIMARY KEY, amount INT NOT NULL) ENGINE=InnoDB")
        cursor.execute(f"INSERT INTO {SOURCE_DB}.ledger VALUES (1, 10), (2, 10)")
        root.commit()
        root.close()
        self.team = Team(source_from_server("maria", "mysql", server))

    def holding_row(self):
        return mysql_holding(HOLD_ROW.format(ledger=f"{SOURCE_DB}.ledger"))

    def lock_waiters(self) -> set[int]:
        return mysql_lock_waiters()

    def session_alive(self, session: int) -> bool:
        return mysql_session_alive(session)

    def amount(self) -> int:
        return mysql_rows(f"SELECT amount FROM {SOURCE_DB}.ledger WHERE id = 1")[0][0]

    def markers(self, request_id: int) -> list[tuple]:
        rows = mysql_rows(
            f"SELECT sql_sha256, applied FROM {SOURCE_DB}.querybase_write_outcomes WHERE request_id = %s", [request_id]
        )
        return [(sha, bool(applied)) for sha, applied in rows]


@pytest.fixture(params=["postgresql", "mariadb"])
def source(request, transactional_db):
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        yield PostgresLedger(server)
        with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB) as db:
            db.execute("DROP TABLE IF EXISTS querybase_write_outcomes")
        return
    yield MariaDBLedger(request.getfixturevalue("mysql_server"))
    root = mysql_root()
    root.cursor().execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.querybase_write_outcomes")
    root.close()


def status_of(request_id: int) -> str:
    return ApprovalRequest.objects.get(pk=request_id).status


def private_worker() -> PrivateWorker:
    return PrivateWorker(settings.DATA_DIR / "private-worker.log")


def sweep_until_settled(request_id: int) -> ApprovalRequest:
    settle_with(
        interrupted_writes.settle_interrupted_requests,
        lambda: status_of(request_id) != "executing",
        "the sweeper to settle the request",
    )
    return ApprovalRequest.objects.get(pk=request_id)


def kill_while_waiting_on_the_row(source, worker, request_id: int) -> int:
    """Start the write on the private worker, let it wait on the row the test holds, and
    kill the whole worker. Returns the write's session in the source."""
    execute_approved_request.apply_async([request_id], queue=worker.queue)
    wait_until(lambda: len(source.lock_waiters()) == 1, "the write to wait on the row")
    assert status_of(request_id) == "executing"
    (write_session,) = source.lock_waiters()
    assert interrupted_writes.settle_interrupted_requests() == 0  # its worker is alive: left alone
    worker.kill()
    return write_session


def test_whole_worker_killed_before_commit_without_a_marker_leaves_it_failed_unknown(postgres_server):
    source = PostgresLedger(postgres_server)
    source.team.source.write_outcome_marker = False
    source.team.source.save()
    request_id = approved_but_not_queued(source.team, WRITE)
    with source.holding_row(), private_worker() as worker:
        write_session = kill_while_waiting_on_the_row(source, worker, request_id)
        approval = sweep_until_settled(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "interrupted"
    assert "may or may not have been applied" in approval.error_message
    wait_until(lambda: not source.session_alive(write_session), "the dead worker's session to end")
    assert source.amount() == 10
    assert interrupted_writes.settle_interrupted_requests() == 0
    assert status_of(request_id) == "failed"


def test_whole_worker_killed_before_commit_is_known_not_applied(source):
    request_id = approved_but_not_queued(source.team, WRITE)
    with source.holding_row(), private_worker() as worker:
        write_session = kill_while_waiting_on_the_row(source, worker, request_id)
        approval = sweep_until_settled(request_id)
        # Settled while the dead worker's statement still waits on the row: its marker
        # can no longer go in, so its transaction can no longer commit.
    assert approval.status == "failed"
    assert approval.error_code == "interrupted_not_applied"
    assert "nothing was applied" in approval.error_message
    wait_until(lambda: not source.session_alive(write_session), "the dead worker's session to end")
    assert source.amount() == 10
    assert source.markers(request_id) == [(approval.sql_sha256, False)]
    assert execution.execute_approved(request_id).ran is False  # a late redelivery runs nothing
    assert source.amount() == 10


def test_whole_worker_killed_after_commit_is_known_succeeded(source):
    request_id = approved_but_not_queued(source.team, WRITE)
    with private_worker() as worker:
        with committed_while_its_outcome_waits(source, request_id, worker):
            worker.kill()
        approval = sweep_until_settled(request_id)
    assert approval.status == "succeeded"
    assert approval.error_code == ""
    assert [result["affected_rows"] for result in approval.statement_results] == [None]  # died with the worker
    assert source.amount() == 110
    assert source.markers(request_id) == [(approval.sql_sha256, True)]
    assert execution.execute_approved(request_id).ran is False  # a late redelivery runs nothing
    assert source.amount() == 110


@contextmanager
def committed_while_its_outcome_waits(source, request_id: int, worker: PrivateWorker) -> Iterator[None]:
    """The approved request runs on `worker`, commits in the source, then waits on its row
    in the metadata database (locked here) to record the outcome: the body acts then."""
    with source.holding_row() as row_hold:
        execute_approved_request.apply_async([request_id], queue=worker.queue)
        wait_until(lambda: len(source.lock_waiters()) == 1, "the write to wait on the row")
        with holding_request_row(request_id) as metadata_hold:
            row_hold.rollback()  # the write goes on, commits, then waits to record its outcome
            wait_until(lambda: source.markers(request_id), "the write to commit")
            wait_until(metadata_lock_waited_on, "the worker to wait on the request row")
            yield
            metadata_hold.rollback()


@contextmanager
def holding_request_row(request_id: int) -> Iterator[psycopg.Connection]:
    """The request's row in the metadata database, locked by a session of the test's own."""
    with psycopg.connect(suite_database_url()) as metadata:
        metadata.execute("SELECT 1 FROM approvals_approvalrequest WHERE id = %s FOR UPDATE", [request_id])
        try:
            yield metadata
        finally:
            metadata.rollback()


def metadata_lock_waited_on() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_an_approved_request_whose_execution_was_never_queued_is_queued(team, postgres_server):
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1 WHERE id = 2")
    assert interrupted_writes.queue_unqueued_requests() == 0  # just approved: its message may be on its way
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
        assert interrupted_writes.queue_unqueued_requests() == 1
        assert interrupted_writes.queue_unqueued_requests() == 0  # sent again once, not at every sweep
    assert settle(request_id).status == "succeeded"
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 2") == (11,)


def end_waiting_metadata_sessions() -> int:
    """End the sessions of the suite's database that wait on a lock (the worker's, as it
    waits to record an outcome); the worker process lives on."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_metadata_connection_lost_after_commit_is_known_succeeded_and_never_rerun(source):
    """The write committed in the source, then the worker's connection to QueryBase's own
    database went before it could record the outcome: the request says so once settled."""
    request_id = approved_but_not_queued(source.team, WRITE)
    with private_worker() as worker:
        with committed_while_its_outcome_waits(source, request_id, worker):
            assert end_waiting_metadata_sessions() == 1
        approval = sweep_until_settled(request_id)
        assert approval.status == "succeeded"
        # The worker, still running, takes the next delivery of the same job: nothing runs.
        execute_approved_request.apply_async([request_id], queue=worker.queue)
        time.sleep(2)
    assert source.amount() == 110
    assert ApprovalRequest.objects.get(pk=request_id).status == "succeeded"
    assert source.markers(request_id) == [(approval.sql_sha256, True)]


@contextmanager
def another_database_keeping_markers(server) -> Iterator[str]:
    """A second database on the same server with an outcome marker table of its own, as
    one QueryBase has written to before has."""
    name = f"{SOURCE_DB}_other"
    with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    other = source_from_server("other", "postgresql", server)
    other.database = name
    try:
        connector_for(other, CredentialRole.OWNER).prepare_outcome_marker()
        yield name
    finally:
        with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_write_interrupted_after_commit_on_a_since_repointed_source_is_left_unknown(postgres_server):
    """The sweeper cannot look for the marker where the write ran: the source now names
    another database. Finding none there says nothing about the write."""
    source = PostgresLedger(postgres_server)
    request_id = approved_but_not_queued(source.team, WRITE)
    with private_worker() as worker:
        with committed_while_its_outcome_waits(source, request_id, worker):
            worker.kill()
        with another_database_keeping_markers(postgres_server) as other:
            source.team.source.database = other
            source.team.source.save()
            approval = sweep_until_settled(request_id)
    assert source.amount() == 110  # it did commit, where it was asked for
    assert approval.status == "failed"
    assert approval.error_code == "interrupted"
    assert "changed" in approval.error_message
    with psycopg.connect(host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB) as db:
        db.execute("DROP TABLE IF EXISTS querybase_write_outcomes")


@pytest.fixture
def connection_lost_after_commit(monkeypatch):
    """The source commits the write, then the connection drops before its answer arrives:
    the driver reports a lost connection for a transaction that did commit."""
    from apps.datasources.connectors.base import ConnectionLost
    from apps.datasources.connectors.postgresql import PostgreSQLConnector

    committing = PostgreSQLConnector.run_write

    def run_write(self, *args, **kwargs):
        committing(self, *args, **kwargs)
        raise ConnectionLost("server closed the connection unexpectedly")

    monkeypatch.setattr(PostgreSQLConnector, "run_write", run_write)


@pytest.mark.usefixtures("connection_lost_after_commit")
def test_a_connection_lost_after_commit_is_settled_from_the_marker(postgres_server):
    source = PostgresLedger(postgres_server)
    request_id = approved_but_not_queued(source.team, WRITE)
    execution.execute_approved(request_id)
    approval = ApprovalRequest.objects.get(pk=request_id)
    assert source.amount() == 110
    assert approval.status == "succeeded", (approval.error_code, approval.error_message)
    body = client_for(source.team.analyst).get(f"/api/v1/approvals/{request_id}").json()
    assert body["status"] == "succeeded"
    assert execution.execute_approved(request_id).ran is False
    assert source.amount() == 110


@pytest.mark.usefixtures("connection_lost_after_commit")
def test_a_connection_lost_after_commit_without_a_marker_says_the_outcome_is_unknown(postgres_server):
    source = PostgresLedger(postgres_server)
    source.team.source.write_outcome_marker = False
    source.team.source.save()
    request_id = approved_but_not_queued(source.team, WRITE)
    execution.execute_approved(request_id)
    approval = ApprovalRequest.objects.get(pk=request_id)
    assert source.amount() == 110
    assert approval.status == "failed"
    assert approval.error_code == "interrupted"
    assert "may or may not have been applied" in approval.error_message
