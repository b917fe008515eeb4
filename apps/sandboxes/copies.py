"""Making and dropping one sandbox's copy, with the state moves around it."""

import logging
from typing import Any

from django.utils import timezone

from apps.datasources.crypto import CredentialDecryptionError
from apps.sandboxes.engines import CopyFailed, LoginRightsMissing, copies_for
from apps.sandboxes.exceptions import SandboxRightsMissing, SandboxUnavailable
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxState
from apps.sandboxes.state import move

logger = logging.getLogger(__name__)


def make_copy(sandbox: Sandbox, golden: GoldenCopy, *, target: str) -> Sandbox:
    """Copy `golden` into the database a `creating` sandbox names, then move it to
    `target` (pooled or active). A failed copy leaves the sandbox `failed` with its reason,
    for its owner to see (asking again makes a new one), and what the attempt left on the
    server is dropped now or by the next upkeep."""
    try:
        copies = copies_for(sandbox.datasource)
        copies.copy(golden.database_name, sandbox.database_name)
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
    """Drop the sandbox's database, schema or file for real; an expired sandbox becomes
    `deleted`. A failed one stays `failed` (its owner is still to see why), marked
    `dropped_at`; upkeep or its owner's delete settles it. False if the server could not
    be reached (upkeep tries again)."""
    try:
        copies_for(sandbox.datasource).drop(sandbox.database_name)
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
