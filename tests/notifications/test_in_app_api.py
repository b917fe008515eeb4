"""In-app notifications: list, unread count, mark read."""

import pytest

from apps.notifications.services import notify_in_app
from tests.support.factories import client_for, make_user

pytestmark = pytest.mark.django_db


def test_inbox_unread_count_and_marking_read():
    ana, bob = make_user("ana"), make_user("bob")
    notify_in_app([ana], event="approval.created", title="first", link="/approvals/1")
    notify_in_app([ana, bob], event="approval.created", title="second", link="/approvals/2")
    client = client_for(ana)
    assert client.get("/api/v1/notifications/unread-count").json() == {"unread": 2}
    listing = client.get("/api/v1/notifications").json()["results"]
    assert [row["title"] for row in listing] == ["second", "first"]
    assert listing[0]["read"] is False
    marked = client.post(f"/api/v1/notifications/{listing[1]['id']}/read").json()
    assert marked["read"] is True
    assert client.get("/api/v1/notifications/unread-count").json() == {"unread": 1}
    assert [row["title"] for row in client.get("/api/v1/notifications?unread=true").json()["results"]] == ["second"]
    assert client.post("/api/v1/notifications/read-all").json() == {"marked": 1}
    assert client_for(bob).get("/api/v1/notifications/unread-count").json() == {"unread": 1}
    # Someone else's notification is not yours to read.
    assert client_for(bob).post(f"/api/v1/notifications/{listing[1]['id']}/read").status_code == 404
