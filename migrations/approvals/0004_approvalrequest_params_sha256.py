"""Approval requests keep a SHA-256 of their parameters beside that of their SQL: execution
refuses parameters edited after approval. Existing requests get the digest of what they
hold now, so those approved and not yet run still run."""

import hashlib
import json

from django.db import migrations, models


def digest_existing_params(apps, schema_editor):
    # The digest as apps.queries.plan.params_sha256_of takes it, spelled out here: a
    # migration must not change when that module does.
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    for approval in ApprovalRequest.objects.only("pk", "params").iterator():
        text = json.dumps(approval.params, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        ApprovalRequest.objects.filter(pk=approval.pk).update(params_sha256=hashlib.sha256(text.encode()).hexdigest())


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0003_h2_sandbox_promotion"),
    ]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="params_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(digest_existing_params, migrations.RunPython.noop),
    ]
