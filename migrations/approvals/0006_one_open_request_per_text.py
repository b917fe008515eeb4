"""One open request (pending, approved or executing) per requester, source, SQL and parameters:
the same write submitted twice is refused (409 duplicate_request), not made into two requests
that two approvals would run twice.

Duplicates already open are settled first, each with its audit event, so the constraint can
be made: the oldest of each set stays; a later one still pending is cancelled, one approved
and not yet run is failed before execution (the move the worker makes when it refuses one).
Two copies both executing cannot be settled here (either may be writing): the migration then
stops and names them, for an admin to wait for them to end."""

from collections import defaultdict

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

OPEN = ("pending", "approved", "executing")
SETTLED_AS = {"pending": ("cancelled", "approval.cancel"), "approved": ("failed", "approval.failed")}


def settle_open_duplicates(apps, schema_editor):
    # Spelled out here rather than through the state machine: a migration must not change
    # when the application code does.
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    sets = defaultdict(list)
    for request in ApprovalRequest.objects.filter(status__in=OPEN).order_by("pk"):
        sets[(request.requester_id, request.datasource_id, request.sql_sha256, request.params_sha256)].append(request)
    for requests in sets.values():
        kept, *later = requests
        for request in later:
            if request.status not in SETTLED_AS:
                raise RuntimeError(
                    f"Approval requests #{kept.pk} and #{request.pk} are the same write, open at once, and "
                    f"#{request.pk} is executing: run this migration again once it has ended."
                )
            status, action = SETTLED_AS[request.status]
            message = f"The same write as request #{kept.pk}, open at the same time: only that one may run."
            ApprovalRequest.objects.filter(pk=request.pk, status=request.status).update(
                status=status, finished_at=timezone.now(), error_code="duplicate_request", error_message=message
            )
            AuditEvent.objects.create(
                action=action,
                object_type="approvals.approvalrequest",
                object_id=str(request.pk),
                object_repr=f"request #{request.pk} on {request.datasource.name}"[:200],
                detail={
                    "datasource": request.datasource_id,
                    "error_code": "duplicate_request",
                    "duplicate_of": kept.pk,
                    "before_execution": True,
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0005_approvalrequest_write_target"),
        ("audit", "0006_truncate_is_refused_too"),
        ("datasources", "0005_datasource_sandbox_settings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(settle_open_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="approvalrequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["pending", "approved", "executing"])),
                fields=("requester", "datasource", "sql_sha256", "params_sha256"),
                name="one_open_request_per_text",
            ),
        ),
    ]
