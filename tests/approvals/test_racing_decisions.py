"""Decisions taken at the same moment: one wins, the other is told 409, and the write runs
at most once, exactly as approved."""

import threading

import pytest
from django.db import connections

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from tests.support.approvals import ledger, settle
from tests.support.factories import client_for
from tests.support.worker import wait_until_worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ROUNDS = 4


def at_once(*actions):
    """Each action in its own thread, released together; their HTTP responses, in order."""
    results, barrier = [None] * len(actions), threading.Barrier(len(actions))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = actions[index]()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def one_won(responses) -> int:
    """The index of the one 200 among the responses; every other is a 409 invalid_state."""
    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [200] + [409] * (len(statuses) - 1), [r.content for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "invalid_state"
    return statuses.index(200)


def test_approve_and_reject_at_once(team, postgres_server):
    applied = 0
    for _ in range(ROUNDS):
        request_id = team.request_write("UPDATE ledger SET amount = amount + 1 WHERE id = 1")["id"]
        winner = one_won(
            at_once(
                lambda request_id=request_id: team.review(request_id, "approve"),
                lambda request_id=request_id: team.review(
                    request_id, "reject", user=team.second_approver, comment="no"
                ),
            )
        )
        decisions = AuditEvent.objects.filter(object_id=str(request_id), action="approval.review")
        assert decisions.count() == 1  # the loser's review left no trace
        if winner == 0:
            assert settle(request_id).status == "succeeded"
            applied += 1
        else:
            assert ApprovalRequest.objects.get(pk=request_id).status == "rejected"
    wait_until_worker_idle()
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (10 + applied,)


def test_approve_and_withdraw_at_once(team, postgres_server):
    applied = 0
    for _ in range(ROUNDS):
        request_id = team.request_write("UPDATE ledger SET amount = amount + 1 WHERE id = 1")["id"]
        winner = one_won(
            at_once(
                lambda request_id=request_id: team.review(request_id, "approve"),
                lambda request_id=request_id: client_for(team.analyst).post(f"/api/v1/approvals/{request_id}/cancel"),
            )
        )
        if winner == 0:
            assert settle(request_id).status == "succeeded"
            applied += 1
        else:
            assert ApprovalRequest.objects.get(pk=request_id).status == "cancelled"
            assert not AuditEvent.objects.filter(object_id=str(request_id), action="approval.execute").exists()
    wait_until_worker_idle()
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (10 + applied,)


def submit(team, sql: str, params=None):
    return client_for(team.analyst).post(
        "/api/v1/queries",
        {"datasource": team.source.pk, "sql": sql, "reason": "fix data", "params": params},
        format="json",
    )


def test_the_same_write_submitted_twice_at_once_makes_one_request(team, postgres_server):
    sql = "UPDATE ledger SET amount = amount + 1 WHERE id = 2"
    responses = at_once(lambda: submit(team, sql), lambda: submit(team, sql))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202, 409], [response.content for response in responses]
    (created,) = [response.json()["approval"] for response in responses if response.status_code == 202]
    (refused,) = [response.json()["error"] for response in responses if response.status_code == 409]
    assert refused["code"] == "duplicate_request"
    assert refused["details"]["request"] == created["id"]
    assert ApprovalRequest.objects.filter(requester=team.analyst).count() == 1
    # Once it has run, the same change may be asked for again.
    team.review(created["id"], "approve")
    assert settle(created["id"]).status == "succeeded"
    assert submit(team, sql).status_code == 202
    # Other parameters are another request.
    assert submit(team, "UPDATE ledger SET amount = $1 WHERE id = 2", [1]).status_code == 202
    assert submit(team, "UPDATE ledger SET amount = $1 WHERE id = 2", [2]).status_code == 202
    assert submit(team, "UPDATE ledger SET amount = $1 WHERE id = 2", [2]).status_code == 409


def test_the_last_two_of_two_required_approvals_at_once_run_it_once(team, postgres_server):
    team.source.approvals_required = 2
    team.source.save()
    request_id = team.request_write("UPDATE ledger SET amount = amount + 1 WHERE id = 3")["id"]
    responses = at_once(
        lambda: team.review(request_id, "approve"),
        lambda: team.review(request_id, "approve", user=team.second_approver),
    )
    assert [response.status_code for response in responses] == [200, 200]
    assert settle(request_id).status == "succeeded"
    assert AuditEvent.objects.filter(object_id=str(request_id), action="approval.approved").count() == 1
    wait_until_worker_idle()
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 3") == (11,)
