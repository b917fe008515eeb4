"""Outcome markers: written by an approved write's own transaction where the source keeps
them, and never changing what runs. (Settling a crash from them: test_interrupted_writes.)"""

import psycopg
import pytest

from apps.approvals import execution
from apps.approvals.models import ApprovalRequest
from tests.support.approvals import approved_but_not_queued, ledger
from tests.support.databases import SOURCE_DB

pytestmark = pytest.mark.django_db(transaction=True)


def markers(server, request_id: int) -> list[tuple]:
    with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB) as db:
        if db.execute("SELECT to_regclass('querybase_write_outcomes')").fetchone()[0] is None:
            return []
        return db.execute(
            "SELECT sql_sha256, applied FROM querybase_write_outcomes WHERE request_id = %s", [request_id]
        ).fetchall()


def execute(request_id: int) -> ApprovalRequest:
    execution.execute_approved(request_id)
    return ApprovalRequest.objects.get(pk=request_id)


def test_an_approved_write_commits_its_marker_and_runs_exactly_its_statements(team, postgres_server):
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1 WHERE id <= 2")
    approval = execute(request_id)
    assert approval.status == "succeeded"
    assert approval.outcome_marker_schema == "public"
    # One result per approved statement: the marker is QueryBase's, not part of them.
    assert [result["affected_rows"] for result in approval.statement_results] == [2]
    assert markers(postgres_server, request_id) == [(approval.sql_sha256, True)]
    assert ledger(postgres_server) == (5, 52)


def test_a_failed_write_leaves_no_marker(team, postgres_server):
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1; UPDATE nowhere SET x = 1")
    approval = execute(request_id)
    assert approval.status == "failed"
    assert markers(postgres_server, request_id) == []
    assert ledger(postgres_server) == (5, 50)


def test_a_source_may_switch_markers_off(team, postgres_server):
    team.source.write_outcome_marker = False
    team.source.save()
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1 WHERE id = 1")
    approval = execute(request_id)
    assert approval.status == "succeeded"
    assert approval.outcome_marker_schema == ""
    assert markers(postgres_server, request_id) == []


@pytest.mark.parametrize(
    "sql",
    [
        # Transaction control of its own: a marker could not vouch for what commits when.
        "SAVEPOINT before_fix; UPDATE ledger SET amount = amount + 1 WHERE id = 1",
        # An effect a rollback does not undo: "did not commit" would not mean "nothing applied".
        "UPDATE ledger SET amount = nextval('ledger_numbers') WHERE id = 1",
    ],
)
def test_writes_a_marker_cannot_vouch_for_run_without_one(team, postgres_server, sql):
    with psycopg.connect(host=postgres_server.host, user="postgres", dbname=SOURCE_DB, autocommit=True) as db:
        db.execute("CREATE SEQUENCE IF NOT EXISTS ledger_numbers")
    request_id = approved_but_not_queued(team, sql)
    approval = execute(request_id)
    assert approval.status == "succeeded", approval.error_message
    assert approval.outcome_marker_schema == ""
    assert markers(postgres_server, request_id) == []


def test_owner_credentials_that_cannot_create_the_table_write_without_a_marker(team, postgres_server):
    role = f"qb_no_create{SOURCE_DB.removeprefix('qb_src_test')}"
    with psycopg.connect(host=postgres_server.host, user="postgres", dbname=SOURCE_DB, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS querybase_write_outcomes")
        db.execute(f"DROP ROLE IF EXISTS {role}")
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"GRANT SELECT, UPDATE ON ledger TO {role}")
    try:
        team.source.username = role  # may update the ledger, may not create tables
        team.source.save()
        request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1 WHERE id = 1")
        approval = execute(request_id)
        assert approval.status == "succeeded", approval.error_message
        assert approval.outcome_marker_schema == ""
        assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (11,)
    finally:
        with psycopg.connect(host=postgres_server.host, user="postgres", dbname=SOURCE_DB, autocommit=True) as db:
            db.execute(f"DROP OWNED BY {role}")
            db.execute(f"DROP ROLE {role}")
