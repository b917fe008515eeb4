"""One open request (pending, approved or executing) per requester, source, SQL and parameters:
the same write submitted twice is refused (409 duplicate_request), not made into two requests
that two approvals would run twice. A database holding such duplicates already needs them
cancelled before this applies."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('approvals', '0005_approvalrequest_write_target'),
        ('datasources', '0005_datasource_sandbox_settings'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='approvalrequest',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['pending', 'approved', 'executing'])), fields=('requester', 'datasource', 'sql_sha256', 'params_sha256'), name='one_open_request_per_text'),
        ),
    ]
