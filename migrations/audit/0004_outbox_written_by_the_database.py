"""Every audit event gets its outbox entry from the database itself, in the statement that
inserts the event: no code path (record_event, a run and its event in one statement,
anything added later) can append an event the search store never hears of."""

from django.db import migrations

POSTGRESQL_CREATE = """
CREATE OR REPLACE FUNCTION audit_auditevent_to_outbox() RETURNS trigger AS $$
BEGIN
    INSERT INTO audit_outboxentry (event_id, created_at, lease_owner, attempts)
    VALUES (NEW.id, now(), '', 0);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditevent_to_outbox
    AFTER INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_to_outbox();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS audit_auditevent_to_outbox ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_to_outbox();
"""

# Django keeps SQLite datetimes as ISO text in UTC; strftime writes the same shape.
SQLITE_CREATE = """
CREATE TRIGGER audit_auditevent_to_outbox
AFTER INSERT ON audit_auditevent
BEGIN
    INSERT INTO audit_outboxentry (event_id, created_at, lease_owner, attempts)
    VALUES (NEW.id, strftime('%Y-%m-%d %H:%M:%f', 'now'), '', 0);
END;
"""

SQLITE_DROP = "DROP TRIGGER IF EXISTS audit_auditevent_to_outbox;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_h1_audit_outbox")]

    operations = [migrations.RunPython(forwards, backwards)]
