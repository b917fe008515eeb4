"""Approval requests keep where their write was asked for (engine, host, port, database,
login): execution refuses a source pointed elsewhere since. Existing requests get their
source's target of now, so those approved and not yet run still run where they would have."""

from django.db import migrations, models

TARGET_FIELDS = ("engine", "host", "port", "database", "username")


def record_existing_targets(apps, schema_editor):
    # Spelled out here rather than DataSource.write_target(): a migration must not change
    # when the model does.
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    DataSource = apps.get_model("datasources", "DataSource")
    for source in DataSource.objects.all().iterator():
        target = {field: getattr(source, field) for field in TARGET_FIELDS}
        ApprovalRequest.objects.filter(datasource_id=source.pk).update(write_target=target)


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0004_approvalrequest_params_sha256"),
        ("datasources", "0005_datasource_sandbox_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="write_target",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(record_existing_targets, migrations.RunPython.noop),
    ]
