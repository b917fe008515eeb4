"""The suite's quicker flush (tests/support/fast_flush.py) leaves what Django's own leaves:
every table empty, the audit log's append-only trigger included, and the triggers on again
afterwards."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from tests.support.factories import grant, make_datasource, make_group, make_user

KEPT = {"django_content_type", "auth_permission"}


def row_counts() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def test_the_flush_empties_every_table_and_leaves_the_triggers_on(transactional_db):
    group = make_group("analysts")
    grant(group, make_datasource("shop"), read=True)
    make_user("ana", groups=(group,))
    record_event("test.event", detail={"kept": False})
    assert {table for table, count in row_counts().items() if count} >= {
        "auth_user",
        "auth_group",
        "audit_auditevent",
        "audit_outboxentry",
    }

    # As Django's TransactionTestCase calls it after each test (the command's own default
    # resets sequences, which takes Django's TRUNCATE).
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)

    assert {table: count for table, count in row_counts().items() if count and table not in KEPT} == {}
    assert ContentType.objects.exists() and Permission.objects.exists()
    # The append-only trigger, off for the flush only, refuses a delete again.
    event = record_event("test.event", detail={"kept": True})
    # (Raw SQL: the model refuses a delete before the database would.)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk])
