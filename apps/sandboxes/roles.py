"""The restricted login each source's sandbox SQL runs as, on its sandbox server.

Users' SQL in a sandbox never runs with the copy-making credentials (by default the
source's own main credentials, which can create databases and reach the source). The
copy-maker creates one login per source and sandbox server, with no server-wide right
and rights on that source's sandboxes only (engines/: PostgreSQL hands it the objects of
the golden copy, so of every sandbox made from it, and lets it connect to the sandboxes;
MySQL grants it each sandbox's schema as it is made). It is made before the first golden
copy, kept while the source has sandboxes or copies, and dropped by upkeep once sandboxes
are off and the last copy is gone.

If the copy-maker may not create it, making a golden copy, and so a sandbox, fails with
`SandboxRightsMissing` naming the right: there is no fallback to the copy-maker.
"""

import logging
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes.engines import CopyFailed, LoginRightsMissing, SandboxLogin, copies_for
from apps.sandboxes.exceptions import SandboxRightsMissing, SandboxUnavailable
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole, SandboxState
from apps.sandboxes.naming import role_name

logger = logging.getLogger(__name__)


def ensure_sandbox_role(datasource: DataSource) -> None:
    """Make the source's restricted login on its sandbox server, unless it has one."""
    try:
        copies = copies_for(datasource)
    except CredentialDecryptionError as error:
        raise SandboxUnavailable(f"The source's credentials cannot be read: {error}") from error
    if not copies.needs_login or copies.login is not None:
        return
    login = SandboxLogin(name=role_name(datasource), password=secrets.token_urlsafe(32))
    try:
        copies.create_login(login)
    except LoginRightsMissing as error:
        raise SandboxRightsMissing(error.message) from error
    except CopyFailed as error:
        raise SandboxUnavailable(f"The sandbox role could not be made: {error.message}") from error
    role = SandboxRole(datasource=datasource, server=copies.server.key, name=login.name)
    role.set_password(login.password)
    try:
        with transaction.atomic():
            role.save()
    except IntegrityError:
        # A parallel process made the source's role first: that one is used, this one goes.
        _drop_quietly(datasource, login.name)


def drop_unused_roles(datasource: DataSource) -> int:
    """Drop the source's logins once its sandboxes are off and no copy of it is left;
    returns how many. One still owning objects (a copy that could not be dropped yet) is
    kept for the next upkeep."""
    if datasource.sandbox_enabled and datasource.is_active:
        return 0
    copies_left = (
        Sandbox.objects.filter(datasource=datasource)
        .exclude(state=SandboxState.DELETED)
        .exclude(state=SandboxState.FAILED, dropped_at__isnull=False)  # kept only to show why it failed
        .exists()
    )
    if copies_left or GoldenCopy.objects.filter(datasource=datasource, dropped_at=None).exists():
        return 0
    dropped = 0
    for role in SandboxRole.objects.filter(datasource=datasource, dropped_at=None):
        if _drop_quietly(datasource, role.name):
            SandboxRole.objects.filter(pk=role.pk).update(dropped_at=timezone.now())
            dropped += 1
    return dropped


def drop_all_roles(datasource: DataSource) -> None:
    """Drop every login of a source being deleted (its copies were dropped first)."""
    for role in SandboxRole.objects.filter(datasource=datasource, dropped_at=None):
        _drop_quietly(datasource, role.name)


def _drop_quietly(datasource: DataSource, name: str) -> bool:
    try:
        copies_for(datasource).drop_login(name)
    except (CopyFailed, CredentialDecryptionError) as error:
        logger.warning(
            "sandbox role %s of source %s not dropped: %s", name, datasource.pk, getattr(error, "message", error)
        )
        return False
    return True
