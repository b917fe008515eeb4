"""The restricted logins sandbox SQL runs as, on the sandbox server.

Users' SQL in a sandbox never runs with the copy-making credentials (by default the
source's own main credentials, which can create databases and reach the source). The
copy-maker creates a login per copy (`make_copy_login`), with no server-wide right, just
before the copy, which gives it that copy alone (engines/); it is dropped with the copy
(`drop_copy_login`). One login per copy rather than per source: on MySQL every schema of a
server is one qualified name away, and on every engine a login may change its own
password, so a login shared by a source's copies would let one user who learns it into
every other user's sandbox. The database keeps users' sandboxes apart, not only the
lexical guard.

Its row is written before the login is made: a process that dies half-way leaves a row
that upkeep finds (`drop_stray_copy_logins`), never an unrecorded login. Copies made when
one login served the whole source (a row with no `database_name`) are given their own by
upkeep (`adopt_copies_of_shared_login`), keeping what is in them, which then drops the
shared one.

If the copy-maker may not create logins, making a golden copy, and so a sandbox, fails
with `SandboxRightsMissing` naming the right (`check_login_rights`): there is no fallback
to the copy-maker, and a copy without its login runs nothing (engines/base.py
`connection_settings`).
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes.engines import CopyFailed, LoginRightsMissing, NotConnected, SandboxLogin, copies_for
from apps.sandboxes.exceptions import SandboxRightsMissing, SandboxUnavailable
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole, SandboxState
from apps.sandboxes.naming import probe_name, role_name

logger = logging.getLogger(__name__)


def check_login_rights(datasource: DataSource) -> None:
    """Make and drop a login before a golden copy is built, so that a copy-maker that may
    not create logins makes nothing at all (rather than a golden copy no sandbox can use)."""
    try:
        copies = copies_for(datasource)
    except CredentialDecryptionError as error:
        raise SandboxUnavailable(f"The source's credentials cannot be read: {error}") from error
    if not copies.needs_login:
        return
    name = probe_name(datasource)
    try:
        make_copy_login(datasource, name)
        drop_copy_login(datasource, name)
    except LoginRightsMissing as error:
        raise SandboxRightsMissing(error.message) from error
    except CopyFailed as error:
        raise SandboxUnavailable(f"The sandbox login could not be made: {error.message}") from error


def make_copy_login(datasource: DataSource, name: str) -> None:
    """Make copy `name`'s own login, where the engine has logins (the copy is made next
    and lets it in). Raises CopyFailed (LoginRightsMissing if the copy-maker may not) or
    CredentialDecryptionError; nothing is left behind then."""
    copies = copies_for(datasource)
    if not copies.needs_login:
        return
    login = SandboxLogin(name=role_name(datasource), password=secrets.token_urlsafe(32))
    role = SandboxRole(datasource=datasource, server=copies.server.key, name=login.name, database_name=name)
    role.set_password(login.password)
    try:
        with transaction.atomic():
            role.save()  # first: a login is never made without a row that upkeep can find
    except IntegrityError as error:
        # Another process is making this copy's login (two upkeeps adopting one copy).
        raise CopyFailed("The sandbox's login is being made by another process; try again.") from error
    try:
        copies.create_login(login)
    except (LoginRightsMissing, NotConnected):
        role.delete()  # refused outright, or the server not reached: nothing was made
        raise
    except BaseException:
        # The server may have made it before the error reached us: drop it, then forget
        # the row; if it cannot be dropped now, the row stays for upkeep.
        if _drop_quietly(datasource, login.name):
            role.delete()
        raise


def drop_copy_login(datasource: DataSource, name: str) -> bool:
    """Drop copy `name`'s own login, if it has one; False if the server did not answer
    (the row stays, and upkeep tries again)."""
    if not name:
        return True
    dropped = True
    for role in SandboxRole.objects.filter(datasource=datasource, database_name=name, dropped_at=None):
        if _drop_quietly(datasource, role.name):
            SandboxRole.objects.filter(pk=role.pk).update(dropped_at=timezone.now())
        else:
            dropped = False
    return dropped


def drop_stray_copy_logins() -> int:
    """Drop copies' own logins whose copy no sandbox row names any more: what a process
    that died between making a login and recording or dropping its copy left (a reset's
    new copy, a rights probe). Only those older than a copy may take to make."""
    stale = timezone.now() - timedelta(minutes=settings.QUERYBASE_SANDBOX_STALE_CREATING_MINUTES)
    live_copies = (
        Sandbox.objects.exclude(state=SandboxState.DELETED)
        .exclude(state=SandboxState.FAILED, dropped_at__isnull=False)
        .values("database_name")
    )
    stray = (
        SandboxRole.objects.filter(dropped_at=None, created_at__lt=stale)
        .exclude(database_name="")
        .exclude(database_name__in=live_copies)
        .select_related("datasource")
    )
    dropped = 0
    for role in stray:
        if _drop_quietly(role.datasource, role.name):
            SandboxRole.objects.filter(pk=role.pk).update(dropped_at=timezone.now())
            dropped += 1
    return dropped


def adopt_copies_of_shared_login(datasource: DataSource) -> int:
    """Give each copy made when one login served all of the source's copies a login of its
    own, keeping what is in it, and take the golden copies back from the shared login; once
    none is left, drop the shared login. Returns how many copies were adopted. A copy that
    cannot be adopted now is logged and runs nothing until it is (fail closed)."""
    try:
        copies = copies_for(datasource)
    except CredentialDecryptionError as error:
        logger.warning("sandbox logins of source %s not checked: %s", datasource.pk, error)
        return 0
    if not copies.needs_login or copies.shared_login is None:
        return 0
    in_use = Sandbox.objects.filter(
        datasource=datasource,
        state__in=[SandboxState.CREATING, SandboxState.POOLED, SandboxState.ACTIVE, SandboxState.IDLE],
    )
    adopted = 0
    waiting = False
    for sandbox in in_use:
        if copies.login_for(sandbox.database_name) is not None:
            continue
        if sandbox.state == SandboxState.CREATING:
            waiting = True  # still being made (by an older process): upkeep settles it first
            continue
        try:
            make_copy_login(datasource, sandbox.database_name)
        except CopyFailed as error:
            logger.warning("sandbox %s not given its own login: %s", sandbox.pk, error.message)
            waiting = True
            continue
        try:
            copies.adopt(sandbox.database_name)
        except CopyFailed as error:
            # The shared login still has the copy (its part is taken last, or in the one
            # transaction that failed); the next pass starts over.
            drop_copy_login(datasource, sandbox.database_name)
            logger.warning("sandbox %s not given its own login: %s", sandbox.pk, error.message)
            waiting = True
            continue
        adopted += 1
    for golden in GoldenCopy.objects.filter(datasource=datasource, dropped_at=None):
        try:
            copies.adopt_golden(golden.database_name)
        except CopyFailed as error:
            logger.warning("golden copy %s not taken from the shared login: %s", golden.pk, error.message)
            waiting = True
    if not waiting:
        for role in SandboxRole.objects.filter(datasource=datasource, database_name="", dropped_at=None):
            if _drop_quietly(datasource, role.name):
                SandboxRole.objects.filter(pk=role.pk).update(dropped_at=timezone.now())
    return adopted


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
