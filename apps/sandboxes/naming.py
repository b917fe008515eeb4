"""Names of copies and roles on the sandbox server: generated here, never chosen by a user."""

import secrets

from django.conf import settings

from apps.datasources.models import DataSource


def sandbox_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_{secrets.token_hex(5)}"


def golden_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_golden_{secrets.token_hex(5)}"


def role_name(datasource: DataSource) -> str:
    """The restricted login's name: short enough for MySQL's 32-character user names."""
    return f"{settings.QUERYBASE_SANDBOX_ROLE_PREFIX}{datasource.pk}_{secrets.token_hex(4)}"
