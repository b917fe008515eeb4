"""migrations/approvals/0006: a database that already holds the same write open twice is
settled before the one-open-request constraint is made, each settled copy with its audit
event; a deployment's upgrade never stops on it, unless both copies are executing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.support.factories import make_datasource, make_user

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("approvals", "0005_approvalrequest_write_target")]
AFTER = [("approvals", "0006_one_open_request_per_text")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def before_the_constraint():
    apps = _migrate(BEFORE)
    yield apps
    _migrate(executor_leaf())


def executor_leaf():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _request(apps, requester, datasource, sql, status):
    return apps.get_model("approvals", "ApprovalRequest").objects.create(
        datasource_id=datasource.pk,
        requester_id=requester.pk,
        sql=sql,
        sql_sha256=f"{sql:0<64}"[:64],
        params_sha256="",
        status=status,
        risk="low",
        expires_at=timezone.now() + timedelta(days=1),
    )


def test_open_copies_of_one_write_are_settled_each_with_its_event(before_the_constraint):
    apps = before_the_constraint
    ana, source = make_user("ana"), make_datasource("shop")
    kept = _request(apps, ana, source, "a", "approved")
    pending_copy = _request(apps, ana, source, "a", "pending")
    approved_copy = _request(apps, ana, source, "a", "approved")
    other_write = _request(apps, ana, source, "b", "pending")

    after = _migrate(AFTER)

    requests = after.get_model("approvals", "ApprovalRequest").objects
    assert requests.get(pk=kept.pk).status == "approved"
    assert requests.get(pk=other_write.pk).status == "pending"
    settled = {request.pk: request for request in requests.filter(pk__in=[pending_copy.pk, approved_copy.pk])}
    assert settled[pending_copy.pk].status == "cancelled"
    assert settled[approved_copy.pk].status == "failed"
    assert {request.error_code for request in settled.values()} == {"duplicate_request"}
    assert all(f"#{kept.pk}" in request.error_message for request in settled.values())
    events = after.get_model("audit", "AuditEvent").objects.filter(object_id__in=[str(pk) for pk in settled])
    assert sorted((event.object_id, event.action, event.detail["duplicate_of"]) for event in events) == sorted(
        [(str(pending_copy.pk), "approval.cancel", kept.pk), (str(approved_copy.pk), "approval.failed", kept.pk)]
    )


def test_two_executing_copies_stop_the_migration_naming_them(before_the_constraint):
    apps = before_the_constraint
    ana, source = make_user("ana"), make_datasource("shop")
    first = _request(apps, ana, source, "a", "executing")
    second = _request(apps, ana, source, "a", "executing")
    with pytest.raises(RuntimeError, match=f"#{first.pk} and #{second.pk}.*#{second.pk} is executing"):
        _migrate(AFTER)
    apps.get_model("approvals", "ApprovalRequest").objects.filter(pk=second.pk).update(status="succeeded")
