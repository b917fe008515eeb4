"""Admins read and replace the group rights on a source; every change is audited."""

import pytest

from apps.audit.models import AuditEvent
from apps.datasources.access import Action, user_may
from tests.support.factories import grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db


def test_admin_replaces_permissions_and_rights_follow(admin_client):
    source = make_datasource("shop", database="/tmp/shop.sqlite3")
    analysts, approvers = make_group("analysts"), make_group("approvers")
    grant(analysts, source, read=True)
    ana = make_user("ana", groups=(analysts,))
    bob = make_user("bob", groups=(approvers,))

    response = admin_client.put(
        f"/api/v1/datasources/{source.id}/permissions",
        {
            "permissions": [
                {"group": analysts.id, "can_read": True, "can_write": True},
                {"group": approvers.id, "can_read": True, "can_approve": True},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["permissions"] == [
        {"group": analysts.id, "group_name": "analysts", "can_read": True, "can_write": True, "can_approve": False},
        {"group": approvers.id, "group_name": "approvers", "can_read": True, "can_write": False, "can_approve": True},
    ]
    assert user_may(ana, Action.WRITE, source)
    assert user_may(bob, Action.APPROVE, source)
    assert admin_client.get(f"/api/v1/datasources/{source.id}/permissions").json() == response.json()

    event = AuditEvent.objects.get(action="datasource.permissions_change")
    assert event.detail["before"] == {"analysts": {"read": True, "write": False, "approve": False}}
    assert event.detail["after"]["approvers"] == {"read": True, "write": False, "approve": True}

    # An empty set removes every right.
    admin_client.put(f"/api/v1/datasources/{source.id}/permissions", {"permissions": []}, format="json")
    assert not user_may(ana, Action.READ, source)


@pytest.mark.parametrize(
    "payload",
    [
        {"permissions": [{"group": 999999, "can_read": True}]},
        {"permissions": [{"group": "analysts", "can_read": True}]},
        {"permissions": [{"group": None}]},
        {"permissions": "all"},
        {},
    ],
)
def test_bad_permission_payloads_are_400(admin_client, payload):
    source = make_datasource("shop", database="/tmp/shop.sqlite3")
    response = admin_client.put(f"/api/v1/datasources/{source.id}/permissions", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_group_may_appear_only_once(admin_client):
    source = make_datasource("shop", database="/tmp/shop.sqlite3")
    group = make_group("analysts")
    response = admin_client.put(
        f"/api/v1/datasources/{source.id}/permissions",
        {"permissions": [{"group": group.id, "can_read": True}, {"group": group.id, "can_write": True}]},
        format="json",
    )
    assert response.status_code == 400
    assert "permissions" in response.json()["error"]["details"]
