"""Every audit event has its outbox entry, written in the same transaction; events carry
the SQL itself (never credentials), the request id, and how a run ended."""

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent, OutboxEntry
from apps.audit.services import record_event
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db


def test_an_event_and_its_outbox_entry_are_written_together():
    event = record_event("test.event", detail={"a": 1})
    assert OutboxEntry.objects.filter(event_id=event.pk).count() == 1


def test_a_rolled_back_event_leaves_no_outbox_entry():
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event("test.event")
        raise RuntimeError("the use case failed after recording")
    assert not AuditEvent.objects.filter(action="test.event").exists()
    assert not OutboxEntry.objects.exists()


def test_sql_is_recorded_without_the_passwords_it_carries():
    event = record_event(
        "test.event",
        detail={
            "sql": "ALTER USER bob PASSWORD 'hunter2'; CREATE USER x IDENTIFIED BY \"s3cret\"; "
            "SELECT dblink_connect('host=db password=topsecret'); SELECT 'keep me'",
            "password": "direct",
        },
    )
    sql = event.detail["sql"]
    assert "hunter2" not in sql and "s3cret" not in sql and "topsecret" not in sql
    assert "PASSWORD '[redacted]'" in sql and "'keep me'" in sql
    assert event.detail["password"] == "[redacted]"


@pytest.fixture
def reader(shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    group = make_group("readers")
    grant(group, source, read=True)
    return make_user("rita", groups=(group,)), source


def test_a_run_is_recorded_with_its_sql_request_id_and_end(reader):
    user, source = reader
    response = client_for(user).post(
        "/api/v1/queries",
        {"datasource": source.pk, "sql": "SELECT name FROM customers WHERE id = 1"},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert response.status_code == 200, response.content
    run_id = response.json()["id"]
    started = AuditEvent.objects.get(action="query.run", object_id=run_id)
    assert started.detail["sql"] == "SELECT name FROM customers WHERE id = 1"
    assert started.request_id == "req-audit-1"
    assert started.object_repr == f"run {run_id}"  # not "(queued)", which read as the outcome
    finished = AuditEvent.objects.get(action="query.finished", object_id=run_id)
    assert finished.detail["status"] == "succeeded"
    assert finished.actor_username == "rita"
    assert finished.detail["datasource"] == source.pk


def test_a_failed_run_records_its_error(reader):
    user, source = reader
    response = client_for(user).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": "SELECT * FROM no_such_table"}, format="json"
    )
    assert response.status_code == 400
    finished = AuditEvent.objects.get(action="query.finished", actor_username="rita")
    assert finished.detail["status"] == "failed"
    assert "no_such_table" in finished.detail["error_message"]
