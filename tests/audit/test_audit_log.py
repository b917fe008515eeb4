"""Audit events are written for each action and can never be changed or removed."""

import pytest
from django.contrib.auth.models import Group, User
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.audit.models import AuditEvent, AuditLogIsAppendOnly
from apps.audit.services import record_event
from tests.support.factories import DEFAULT_PASSWORD, make_group, make_user

pytestmark = pytest.mark.django_db


def test_session_login_and_failed_login_are_recorded():
    make_user("ana")
    browser = Client(REMOTE_ADDR="10.1.2.3")
    browser.post("/login/", {"username": "ana", "password": "wrong"})
    browser.post("/login/", {"username": "ana", "password": DEFAULT_PASSWORD})
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert (failed.actor_username, failed.actor, failed.ip_address) == ("ana", None, "10.1.2.3")
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor.username == "ana"
    assert login.detail == {"method": "session"}


def test_jwt_login_and_failure_are_recorded(api_client):
    make_user("ana")
    api_client.post("/api/v1/auth/token", {"username": "ana", "password": "nope"}, format="json")
    api_client.post("/api/v1/auth/token", {"username": "ana", "password": DEFAULT_PASSWORD}, format="json")
    assert AuditEvent.objects.get(action="auth.login_failed").detail == {"method": "jwt"}
    assert AuditEvent.objects.get(action="auth.login").detail == {"method": "jwt"}


def test_events_cannot_be_changed_through_the_orm():
    event = record_event("test.event", detail={"a": 1})
    event.action = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"],
)
def test_postgresql_refuses_raw_update_and_delete(statement):
    assert connection.vendor == "postgresql"
    event = record_event("test.event")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.parametrize("statement", ["TRUNCATE audit_auditevent", "TRUNCATE audit_auditevent, audit_outboxentry"])
def test_postgresql_refuses_truncate(statement):
    """A TRUNCATE fires no row trigger: it needs its own, or it empties the log at once."""
    event = record_event("test.event")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_deleting_a_user_keeps_their_events():
    user = make_user("leaver")
    record_event("test.event", actor=user)
    user.delete()
    event = AuditEvent.objects.get(action="test.event")
    assert event.actor_username == "leaver"


def test_admin_offers_no_way_to_edit_or_delete(admin_user):
    event = record_event("test.event")
    browser = Client()
    browser.force_login(admin_user)
    assert browser.get("/admin/audit/auditevent/add/").status_code == 403
    page = browser.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert browser.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert browser.get("/admin/audit/auditevent/?q=test.event").status_code == 200


def _admin_browser(admin_user) -> Client:
    browser = Client(REMOTE_ADDR="10.9.8.7")
    browser.force_login(admin_user)
    return browser


def test_an_admin_changing_a_user_in_the_admin_is_recorded(admin_user):
    approvers = make_group("approvers")
    target = make_user("bob")
    page = _admin_browser(admin_user).post(
        f"/admin/auth/user/{target.pk}/change/",
        {
            "username": "bob",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [approvers.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    target.refresh_from_db()
    assert target.is_superuser and not target.is_active
    change = AuditEvent.objects.get(action="admin.change", object_type="auth.user")
    assert (change.actor, change.object_id, change.ip_address) == (admin_user, str(target.pk), "10.9.8.7")
    assert {"Active", "Staff status", "Superuser status", "Groups"} <= set(change.detail["fields"])
    membership = AuditEvent.objects.get(action="user.groups_changed", object_id=str(target.pk))
    assert membership.detail == {"added": ["approvers"], "removed": []}
    assert membership.actor == admin_user


def test_an_admin_adding_and_deleting_in_the_admin_is_recorded(admin_user):
    browser = _admin_browser(admin_user)
    assert browser.post("/admin/auth/group/add/", _group_form("auditors")).status_code == 302
    group = Group.objects.get(name="auditors")
    added = AuditEvent.objects.get(action="admin.add", object_type="auth.group")
    assert (added.actor, added.object_id) == (admin_user, str(group.pk))
    assert browser.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 302
    deleted = AuditEvent.objects.get(action="admin.delete", object_type="auth.group")
    assert (deleted.object_id, deleted.object_repr) == (str(group.pk), "auditors")
    # Several at once, through the list's delete action: one event each.
    doomed = [make_user(f"leaver-{n}") for n in range(2)]
    browser.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [user.pk for user in doomed], "post": "yes"},
    )
    assert not User.objects.filter(username__startswith="leaver-").exists()
    assert set(
        AuditEvent.objects.filter(action="admin.delete", object_type="auth.user").values_list("object_id", flat=True)
    ) == {str(user.pk) for user in doomed}


def _group_form(name: str) -> dict:
    form = {"name": name}
    for prefix in ("datasource_permissions", "rights"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return form
