"""Names of copies and roles on the sandbox server: generated here, never chosen by a user."""

import secrets

from django.conf import settings

from apps.datasources.models import DataSource


def sandbox_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_{secrets.token_hex(5)}"


def golden_name(datasource: DataSource) -> str:
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_golden_{secrets.token_hex(5)}"


def probe_name(datasource: DataSource) -> str:
    """What a login made only to prove the copy-maker may make one is recorded for: no
    copy is ever named so."""
    return f"{settings.QUERYBASE_SANDBOX_NAME_PREFIX}{datasource.pk}_probe_{secrets.token_hex(5)}"


def role_name(datasource: DataSource) -> str:
    """A restricted login's name: a random part per login (MySQL has one per copy), and
    short enough for MySQL's 32-character user names with a prefix of up to 12 characters
    and a source id of up to 9 digits."""
    return f"{settings.QUERYBASE_SANDBOX_ROLE_PREFIX}{datasource.pk}_{secrets.token_hex(5)}"
