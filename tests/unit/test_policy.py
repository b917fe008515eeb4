"""The policy module, as a table: (kind of user, state of the object, question) → answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import policy
from apps.approvals import policy as request_policy
from apps.approvals.models import ApprovalRequest, ApprovalReview
from apps.datasources import access
from apps.queries import policy as run_policy
from apps.queries.models import QueryRun
from tests.support.factories import grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db


class World:
    """One source, the people around it, a pending request and a finished run."""

    def __init__(self):
        self.source = make_datasource("policy-src", dry_run_enabled=True)
        writers, approvers, readers = make_group("writers"), make_group("approvers"), make_group("readers")
        grant(writers, self.source, read=True, write=True)
        grant(approvers, self.source, read=True, approve=True)
        grant(readers, self.source, read=True)
        self.users = {
            "requester": make_user("requester", groups=(writers,)),
            "approver": make_user("approver", groups=(approvers,)),
            "requester_who_approves": make_user("self-approver", groups=(writers, approvers)),
            "reader": make_user("reader", groups=(readers,)),
            "staff_without_rights": make_user("staff", is_admin=True),
            "staff_reader": make_user("staff-reader", groups=(readers,), is_admin=True),
            "outsider": make_user("outsider"),
            "deactivated_approver": make_user("gone", groups=(approvers,)),
            "revoked_owner": make_user("revoked"),
        }
        self.users["deactivated_approver"].is_active = False
        self.users["deactivated_approver"].save()
        self.request = ApprovalRequest.objects.create(
            datasource=self.source,
            requester=self.users["requester_who_approves"],
            sql="DELETE FROM t",
            sql_sha256="0" * 64,
            risk="high",
            write_kinds=["dml"],
            write_target=self.source.write_target(),
            expires_at=timezone.now() + timedelta(hours=1),
        )
        self.run = QueryRun.objects.create(
            user=self.users["revoked_owner"], datasource=self.source, sql="SELECT 1", sql_sha256="0" * 64
        )
        self.reader_run = QueryRun.objects.create(
            user=self.users["reader"], datasource=self.source, sql="SELECT 1", sql_sha256="0" * 64
        )

    def set_state(self, state: str) -> None:
        if state == "expired":
            self.request.expires_at = timezone.now() - timedelta(minutes=1)
        elif state in {"approved", "rejected"}:
            self.request.status = state
        elif state == "source_inactive":
            self.source.is_active = False
            self.source.save()
        elif state == "dry_run_off":
            self.source.dry_run_enabled = False
            self.source.save()
        elif state == "ddl":
            self.request.write_kinds = ["ddl"]
        self.request.save()


QUESTIONS = {
    "is_admin": lambda world, user: policy.is_admin(user),
    "may_review": lambda world, user: request_policy.may_review(user, world.request),
    "may_dry_run": lambda world, user: request_policy.may_dry_run(user, world.request),
    "may_view_request": lambda world, user: request_policy.may_view_request(user, world.request),
    "may_cancel_request": lambda world, user: request_policy.may_cancel_request(user, world.request),
    "may_request_write": lambda world, user: access.user_may(user, access.Action.WRITE, world.source),
    "may_view_reader_run": lambda world, user: run_policy.may_view_run(user, world.reader_run),
    "may_view_reader_result": lambda world, user: run_policy.may_view_result(user, world.reader_run),
    "may_view_revoked_run": lambda world, user: run_policy.may_view_run(user, world.revoked_owner_run),
    "may_view_revoked_result": lambda world, user: run_policy.may_view_result(user, world.run),
}
World.revoked_owner_run = property(lambda self: self.run)

TABLE = [
    # who, state, question, answer
    ("staff_without_rights", "pending", "is_admin", True),
    ("approver", "pending", "is_admin", False),
    ("deactivated_approver", "pending", "is_admin", False),
    ("approver", "pending", "may_review", True),
    ("approver", "expired", "may_review", False),
    ("approver", "approved", "may_review", False),
    ("approver", "source_inactive", "may_review", False),
    ("requester_who_approves", "pending", "may_review", False),
    ("staff_without_rights", "pending", "may_review", False),
    ("deactivated_approver", "pending", "may_review", False),
    ("reader", "pending", "may_review", False),
    ("approver", "pending", "may_dry_run", True),
    ("approver", "expired", "may_dry_run", False),
    ("approver", "rejected", "may_dry_run", False),
    ("approver", "dry_run_off", "may_dry_run", False),
    ("approver", "ddl", "may_dry_run", False),
    ("requester_who_approves", "pending", "may_dry_run", False),
    ("staff_without_rights", "pending", "may_dry_run", False),
    ("approver", "pending", "may_view_request", True),
    ("requester_who_approves", "pending", "may_view_request", True),
    ("staff_without_rights", "pending", "may_view_request", True),
    ("reader", "pending", "may_view_request", False),
    ("outsider", "pending", "may_view_request", False),
    ("requester_who_approves", "pending", "may_cancel_request", True),
    ("approver", "pending", "may_cancel_request", False),
    ("requester", "pending", "may_request_write", True),
    ("requester", "source_inactive", "may_request_write", False),
    ("staff_without_rights", "pending", "may_request_write", False),
    ("reader", "pending", "may_view_reader_run", True),
    ("reader", "pending", "may_view_reader_result", True),
    ("reader", "source_inactive", "may_view_reader_result", False),
    ("staff_without_rights", "pending", "may_view_reader_run", True),
    ("staff_without_rights", "pending", "may_view_reader_result", False),
    ("staff_reader", "pending", "may_view_reader_result", True),
    ("outsider", "pending", "may_view_reader_run", False),
    ("approver", "pending", "may_view_reader_result", False),
    ("revoked_owner", "pending", "may_view_revoked_run", True),
    ("revoked_owner", "pending", "may_view_revoked_result", False),
]


@pytest.mark.parametrize(("who", "state", "question", "expected"), TABLE)
def test_policy_table(who, state, question, expected):
    world = World()
    world.set_state(state)
    assert QUESTIONS[question](world, world.users[who]) is expected


@pytest.mark.parametrize(
    ("change", "counted"),
    [("none", 1), ("demoted", 0), ("deactivated", 0), ("source_inactive", 0), ("became_requester_only", 1)],
)
def test_only_reviews_of_still_eligible_reviewers_count(change, counted):
    world = World()
    approver = world.users["approver"]
    ApprovalReview.objects.create(request=world.request, reviewer=approver, decision="approve")
    if change == "demoted":
        approver.groups.clear()
    elif change == "deactivated":
        approver.is_active = False
        approver.save()
    elif change == "source_inactive":
        world.set_state("source_inactive")
    assert request_policy.counted_approvals(world.request).count() == counted


def test_execution_refusal_names_the_reason():
    world = World()
    ApprovalReview.objects.create(request=world.request, reviewer=world.users["approver"], decision="approve")
    assert request_policy.execution_refusal(world.request) is None
    world.users["approver"].groups.clear()
    assert request_policy.execution_refusal(world.request)[0] == "approvals_withdrawn"
    world.set_state("source_inactive")
    assert request_policy.execution_refusal(world.request)[0] == "datasource_inactive"
