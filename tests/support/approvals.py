"""Arranging approval scenarios: a source with a ledger table, and a team around it."""

import time

import psycopg
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, ApprovalReview
from tests.support.databases import SOURCE_DB
from tests.support.factories import client_for, grant, make_group, make_user, source_from_server


def ledger_source(postgres_server):
    """A PostgreSQL source with a fresh `ledger` table the writes act on."""
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB, autocommit=True
    ) as connection:
        connection.execute("DROP TABLE IF EXISTS ledger")
        connection.execute("CREATE TABLE ledger (id int PRIMARY KEY, amount int NOT NULL)")
        connection.execute("INSERT INTO ledger SELECT g, 10 FROM generate_series(1, 5) g")
    return source_from_server("pg", "postgresql", postgres_server, dry_run_enabled=True)


def ledger(postgres_server, sql: str = "SELECT count(*), coalesce(sum(amount), 0) FROM ledger"):
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB
    ) as connection:
        return connection.execute(sql).fetchone()


class Team:
    """An analyst who may request writes, and two approvers, on one source."""

    def __init__(self, source):
        analysts, approvers = make_group(f"analysts-{source.pk}"), make_group(f"approvers-{source.pk}")
        grant(analysts, source, read=True, write=True)
        grant(approvers, source, read=True, approve=True)
        self.analyst = make_user(f"analyst-{source.pk}", groups=(analysts,))
        self.approver = make_user(f"approver-{source.pk}", groups=(approvers,))
        self.second_approver = make_user(f"approver2-{source.pk}", groups=(approvers,))
        self.outsider = make_user(f"outsider-{source.pk}")
        self.source = source

    def request_write(self, sql: str, *, reason: str = "fix data", params=None, user=None) -> dict:
        response = client_for(user or self.analyst).post(
            "/api/v1/queries",
            {"datasource": self.source.pk, "sql": sql, "reason": reason, "params": params},
            format="json",
        )
        assert response.status_code == 202, response.content
        return response.json()["approval"]

    def review(self, request_id: int, decision: str, *, user=None, comment: str = "reviewed"):
        return client_for(user or self.approver).post(
            f"/api/v1/approvals/{request_id}/review", {"decision": decision, "comment": comment}, format="json"
        )


def settle(request_id: int, timeout: float = 30) -> ApprovalRequest:
    """The request once its execution has ended (succeeded or failed), polled from the
    database the worker writes to."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approval = ApprovalRequest.objects.get(pk=request_id)
        if approval.status in {"succeeded", "failed"}:
            return approval
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} did not settle: {approval.status}")


def approved_but_not_queued(team: Team, sql: str) -> int:
    """An approved request (by an eligible reviewer) whose execution nobody has sent yet."""
    request_id = team.request_write(sql)["id"]
    ApprovalReview.objects.create(request_id=request_id, reviewer=team.approver, decision="approve")
    now = timezone.now()
    ApprovalRequest.objects.filter(pk=request_id).update(status="approved", decided_at=now, updated_at=now)
    return request_id
