"""Names of copies on the sandbox server: generated here, never chosen by a user."""

import secrets

from django.conf import settings

from apps.datasources.models import DataSource


def sandbox_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_{secrets.token_hex(5)}"


def golden_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_golden_{secrets.token_hex(5)}"
