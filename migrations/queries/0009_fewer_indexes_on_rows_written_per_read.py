"""A history row is written with every read, cache hits included, and each index on it is
written with it: the indexes no query uses go (the keys' own, covered by the
(key, -created_at) pairs; sql_sha256's; status's, and the LIKE copies PostgreSQL adds to
indexed text columns), and the sweeper's lookup of unfinished runs gets a partial index
that finished runs never enter.

The history table is large: on PostgreSQL the indexes are made and dropped CONCURRENTLY,
so reads are still recorded while this runs (hence not atomic)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = (
    "queries_queryrun_user_id_bff0fd79",
    "queries_queryrun_datasource_id_754032ec",
    "queries_queryrun_sql_sha256_fbcfda05",
    "queries_queryrun_sql_sha256_fbcfda05_like",
    "queries_queryrun_status_6adff09d",
    "queries_queryrun_status_6adff09d_like",
)
UNFINISHED = "queries_run_unfinished_idx ON queries_queryrun (status) WHERE status IN ('queued', 'running')"
RESTORED = (
    "queries_queryrun_user_id_bff0fd79 ON queries_queryrun (user_id)",
    "queries_queryrun_datasource_id_754032ec ON queries_queryrun (datasource_id)",
    "queries_queryrun_sql_sha256_fbcfda05 ON queries_queryrun (sql_sha256)",
    "queries_queryrun_status_6adff09d ON queries_queryrun (status)",
)


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def forwards(apps, schema_editor):
    how = _concurrently(schema_editor)
    schema_editor.execute(f"CREATE INDEX{how} IF NOT EXISTS {UNFINISHED}", params=None)
    for name in DROPPED:
        schema_editor.execute(f"DROP INDEX{how} IF EXISTS {name}", params=None)


def backwards(apps, schema_editor):
    how = _concurrently(schema_editor)
    for index in RESTORED:
        schema_editor.execute(f"CREATE INDEX{how} IF NOT EXISTS {index}", params=None)
    schema_editor.execute(f"DROP INDEX{how} IF EXISTS queries_run_unfinished_idx", params=None)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("queries", "0008_h4_statement_results"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="queryrun",
                    name="datasource",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="runs",
                        to="datasources.datasource",
                    ),
                ),
                migrations.AlterField(model_name="queryrun", name="sql_sha256", field=models.CharField(max_length=64)),
                migrations.AlterField(
                    model_name="queryrun",
                    name="status",
                    field=models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=16,
                    ),
                ),
                migrations.AlterField(
                    model_name="queryrun",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="query_runs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AddIndex(
                    model_name="queryrun",
                    index=models.Index(
                        condition=models.Q(("status__in", ["queued", "running"])),
                        fields=["status"],
                        name="queries_run_unfinished_idx",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
