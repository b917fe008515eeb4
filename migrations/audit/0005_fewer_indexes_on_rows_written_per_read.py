"""An audit event is written with every read: the indexes nothing asks this table for go
(object_type's and object_id's alone, covered by or unused beside the (object_type,
object_id) pair, and the LIKE copies PostgreSQL adds to indexed text columns); action's
stays, under a name of its own. Searches go to the search store.

The table is large and append-only: on PostgreSQL indexes are dropped CONCURRENTLY and
action's is renamed rather than made again, so events are still written while this runs
(hence not atomic)."""

from django.conf import settings
from django.db import migrations, models

DROPPED = (
    "audit_auditevent_action_2131bb77_like",
    "audit_auditevent_object_type_2df52246",
    "audit_auditevent_object_type_2df52246_like",
    "audit_auditevent_object_id_3d6dccfb",
    "audit_auditevent_object_id_3d6dccfb_like",
)
RESTORED = (
    "audit_auditevent_object_type_2df52246 ON audit_auditevent (object_type)",
    "audit_auditevent_object_id_3d6dccfb ON audit_auditevent (object_id)",
)
ACTION_BEFORE = "audit_auditevent_action_2131bb77"
ACTION_AFTER = "audit_event_action_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX IF EXISTS {ACTION_BEFORE} RENAME TO {ACTION_AFTER}", params=None)
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ACTION_AFTER} ON audit_auditevent (action)", params=None
        )
        for name in DROPPED:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}", params=None)
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {ACTION_BEFORE}", params=None)
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {ACTION_AFTER} ON audit_auditevent (action)", params=None)
    for name in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


def backwards(apps, schema_editor):
    how = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for index in RESTORED:
        schema_editor.execute(f"CREATE INDEX{how} IF NOT EXISTS {index}", params=None)
    schema_editor.execute(f"DROP INDEX{how} IF EXISTS {ACTION_AFTER}", params=None)
    schema_editor.execute(f"CREATE INDEX{how} IF NOT EXISTS {ACTION_BEFORE} ON audit_auditevent (action)", params=None)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0004_outbox_written_by_the_database"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="auditevent", name="action", field=models.CharField(max_length=64)),
                migrations.AlterField(
                    model_name="auditevent", name="object_id", field=models.CharField(blank=True, max_length=64)
                ),
                migrations.AlterField(
                    model_name="auditevent", name="object_type", field=models.CharField(blank=True, max_length=64)
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["action"], name="audit_event_action_idx"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
