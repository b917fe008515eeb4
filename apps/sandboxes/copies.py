"""Making and dropping one sandbox's copy (with its own login where the engine gives each
copy one), with the state moves around it."""

import logging
from typing import Any

from django.utils import timezone

from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes.engines import CopyEngine, CopyFailed, LoginRightsMissing, copies_for
from apps.sandboxes.exceptions import SandboxRightsMissing, SandboxUnavailable
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxState
from apps.sandboxes.roles import drop_copy_login, make_copy_login
from apps.sandboxes.state import move

logger = logging.getLogger(__name__)


def copy_of_golden(datasource: DataSource, golden: str, name: str) -> CopyEngine:
    """Make copy `name` of golden copy `golden`, with its own login first where the engine
    gives each copy one; returns the mechanics to run SQL in it. On failure neither the
    copy nor its login is left (what the server would not drop now, upkeep drops). Raises
    CopyFailed (LoginRightsMissing: the copy-maker may not make the login) or
    CredentialDecryptionError."""
    make_copy_login(datasource, name)
    copies = copies_for(datasource)
    try:
        copies.copy(golden, name)  # drops what it made if it fails
    except BaseException:
        drop_copy_login(datasource, name)
        raise
    return copies


def remove_copy(datasource: DataSource, name: str) -> None:
    """Drop copy `name` and then its own login. Raises CopyFailed if either is left."""
    copies_for(datasource).drop(name)
    if not drop_copy_login(datasource, name):
        raise CopyFailed("The sandbox's own login could not be dropped yet.")


def make_copy(sandbox: Sandbox, golden: GoldenCopy, *, target: str) -> Sandbox:
    """Copy `golden` into the database a `creating` sandbox names, then move it to
    `target` (pooled or active). A failed copy leaves the sandbox `failed` with its reason,
    for its owner to see (asking again makes a new one), and what the attempt left on the
    server is dropped now or by the next upkeep."""
    try:
        copies = copy_of_golden(sandbox.datasource, golden.database_name, sandbox.database_name)
        size = copies.size_bytes(sandbox.database_name)
    except (CopyFailed, CredentialDecryptionError) as error:
        message = getattr(error, "message", str(error))
        move(sandbox, SandboxState.FAILED, error_message=message)
        drop_copy(sandbox)
        if isinstance(error, LoginRightsMissing):
            raise SandboxRightsMissing(message) from error
        raise SandboxUnavailable(f"The sandbox could not be copied: {message}") from error
    now = timezone.now()
    fields: dict[str, Any] = {"size_bytes": size, "copied_at": now}
    if target == SandboxState.ACTIVE:
        fields.update(assigned_at=now, last_used_at=now)
    move(sandbox, target, **fields)
    return sandbox


def drop_copy(sandbox: Sandbox) -> bool:
    """Drop the sandbox's database, schema or file for real, and its own login; an expired
    sandbox becomes `deleted`. A failed one stays `failed` (its owner is still to see why), marked
    `dropped_at`; upkeep or its owner's delete settles it. False if the server could not
    be reached (upkeep tries again)."""
    try:
        remove_copy(sandbox.datasource, sandbox.database_name)
    except (CopyFailed, CredentialDecryptionError) as error:
        logger.warning("dropping sandbox %s failed: %s", sandbox.pk, getattr(error, "message", error))
        return False
    now = timezone.now()
    if sandbox.state == SandboxState.EXPIRED:
        move(sandbox, SandboxState.DELETED, dropped_at=now)
    elif sandbox.state == SandboxState.FAILED:
        # Not a move: the state stays; only the fact that nothing is left on the server.
        Sandbox.objects.filter(pk=sandbox.pk).update(dropped_at=now)
        sandbox.dropped_at = now
    return True
