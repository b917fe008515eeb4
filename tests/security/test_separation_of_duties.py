"""Invariant 4: no one reviews their own request; only approvers of that source review."""

import pytest

from apps.approvals import selectors
from apps.approvals.models import ApprovalRequest
from tests.support.approvals import Team
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_team(shop_sqlite_path):
    return Team(make_datasource("shop", database=str(shop_sqlite_path)))


def test_approver_cannot_approve_their_own_request(shop_team):
    shop_team.approver.groups.add(*shop_team.analyst.groups.all())  # may both request and approve
    request_id = shop_team.request_write("DELETE FROM orders WHERE id = 1", user=shop_team.approver)["id"]
    response = shop_team.review(request_id, "approve", user=shop_team.approver)
    assert response.status_code == 403
    assert "own request" in response.json()["error"]["message"]
    assert shop_team.approver not in selectors.eligible_approvers(ApprovalRequest.objects.get(pk=request_id))


def test_superuser_without_approve_right_cannot_approve(shop_team):
    request_id = shop_team.request_write("DELETE FROM orders WHERE id = 1")["id"]
    boss = make_user("boss", is_admin=True)
    response = client_for(boss).post(f"/api/v1/approvals/{request_id}/review", {"decision": "approve"}, format="json")
    assert response.status_code == 403


def test_approver_of_another_source_cannot_approve(shop_team, tmp_path):
    other = make_datasource("other", database="/tmp/other.sqlite3")
    group = make_group("other-approvers")
    grant(group, other, read=True, approve=True)
    stranger = make_user("stranger", groups=(group,))
    request_id = shop_team.request_write("DELETE FROM orders WHERE id = 1")["id"]
    response = client_for(stranger).post(
        f"/api/v1/approvals/{request_id}/review", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 404  # not even visible to them


def test_revoked_approver_cannot_approve(shop_team):
    request_id = shop_team.request_write("DELETE FROM orders WHERE id = 1")["id"]
    shop_team.approver.groups.clear()
    assert shop_team.review(request_id, "approve").status_code == 404
