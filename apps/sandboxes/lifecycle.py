"""A user's sandbox: get or assign one, reset it, delete it."""

import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources import access
from apps.datasources.access import Action, rights_on
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes import selectors
from apps.sandboxes.copies import copy_of_golden, drop_copy, make_copy, remove_copy
from apps.sandboxes.engines import CopyFailed, LoginRightsMissing
from apps.sandboxes.exceptions import (
    SandboxError,
    SandboxesDisabled,
    SandboxNotFound,
    SandboxNotReady,
    SandboxRightsMissing,
    SandboxUnavailable,
)
from apps.sandboxes.golden import current_golden, golden_for_copying
from apps.sandboxes.models import OWNED_STATES, USABLE_STATES, Sandbox, SandboxState
from apps.sandboxes.naming import sandbox_name
from apps.sandboxes.pool import claim_pooled
from apps.sandboxes.state import move
from querybase.celery import enqueue_on_commit
from querybase.errors import NotAllowed
from querybase.types import ClientRequest

logger = logging.getLogger(__name__)


def sandbox_source(user: User, datasource_id: int) -> DataSource:
    """The source, if `user` may read it and it has sandboxes on; raises otherwise."""
    datasource, rights = rights_on(user, datasource_id)
    if datasource is None:
        raise SandboxNotFound("No data source with this id, or you have no rights on it.")
    if Action.READ not in rights:
        raise NotAllowed("Sandboxes of a source are for users who may read it.")
    if not datasource.sandbox_enabled:
        raise SandboxesDisabled("This data source has no sandboxes; an administrator may turn them on.")
    return datasource


def sandbox_for(
    user: User, datasource_id: int, *, request: ClientRequest | None = None, background: bool = False
) -> tuple[Sandbox, bool]:
    """The caller's sandbox on a source: theirs if they have one, else a pooled copy,
    else one copied now from the golden copy (shown as `creating` meanwhile). With
    `background`, that copy is made by a worker and the sandbox is returned `creating`,
    for the caller to follow. Returns the sandbox and whether it was newly assigned or made."""
    datasource = sandbox_source(user, datasource_id)
    existing = _owned_by(user, datasource)
    if existing is not None:
        return touch(existing), False
    sandbox = claim_pooled(user, datasource)
    how = "pool"
    if sandbox is None:
        sandbox, how = _copy_on_demand(user, datasource, background=background), "on_demand"
    record_event("sandbox.assign", actor=user, target=sandbox, request=request, detail={"from": how})
    return sandbox, True


def _owned_by(user: User, datasource: DataSource) -> Sandbox | None:
    return Sandbox.objects.filter(owner=user, datasource=datasource, state__in=OWNED_STATES).first()


def _copy_on_demand(user: User, datasource: DataSource, *, background: bool = False) -> Sandbox:
    # In the background even the golden copy may still have to be made: the worker does it.
    golden = current_golden(datasource) if background else golden_for_copying(datasource)
    try:
        with transaction.atomic():
            sandbox = Sandbox.objects.create(
                datasource=datasource,
                owner=user,
                database_name=sandbox_name(datasource),
                golden=golden,
                sampled_tables=golden.sampled_tables if golden else [],
            )
            if background:
                enqueue_on_commit("sandboxes.make_copy", sandbox.pk)
    except IntegrityError:
        # A parallel request of the same user got there first: that one is theirs.
        existing = _owned_by(user, datasource)
        if existing is None:
            raise
        return existing
    if background:
        return sandbox
    assert golden is not None
    return make_copy(sandbox, golden, target=SandboxState.ACTIVE)


def finish_copy(sandbox_id: int) -> None:
    """The worker's part of a background copy: the golden copy if the source has none yet,
    then the sandbox's copy. A failure leaves the sandbox `failed` with its reason."""
    sandbox = Sandbox.objects.select_related("datasource", "golden").filter(pk=sandbox_id).first()
    if sandbox is None or sandbox.state != SandboxState.CREATING:
        return  # copied already (a duplicate delivery), or given up on
    try:
        golden = sandbox.golden if sandbox.golden and sandbox.golden.dropped_at is None else None
        golden = golden or golden_for_copying(sandbox.datasource)
        if sandbox.golden_id != golden.pk:
            Sandbox.objects.filter(pk=sandbox.pk).update(golden=golden, sampled_tables=golden.sampled_tables)
        make_copy(sandbox, golden, target=SandboxState.ACTIVE)
    except SandboxError as error:
        if sandbox.state == SandboxState.CREATING:
            # No golden copy to copy from: nothing of this sandbox was made on the server.
            move(sandbox, SandboxState.FAILED, error_message=error.message, dropped_at=timezone.now())
        logger.warning("background copy of sandbox %s failed: %s", sandbox.pk, error.message)


def touch(sandbox: Sandbox) -> Sandbox:
    """Record a use: the sandbox is active again and its idle time starts over."""
    if sandbox.state in USABLE_STATES:
        move(sandbox, SandboxState.ACTIVE, sources=USABLE_STATES, last_used_at=timezone.now())
    return sandbox


def owned_sandbox(user: User, sandbox_id: int) -> Sandbox:
    """A sandbox only its owner may use; raises for anyone else."""
    sandbox = Sandbox.objects.select_related("datasource").filter(pk=sandbox_id).first()
    if sandbox is None or sandbox.state == SandboxState.DELETED:
        raise SandboxNotFound("No sandbox with this id.")
    if sandbox.owner_id != user.pk:
        raise selectors.refusal_for_non_owner(user, sandbox, "Only the owner of a sandbox may use it.")
    return sandbox


def reset_sandbox(user: User, sandbox_id: int, *, request: ClientRequest | None = None) -> Sandbox:
    """Replace the sandbox's copy with a fresh one of the current golden copy. The new
    copy gets a new name (and, where copies have their own login, a new login), so
    nothing still connected to the old one can reach the new."""
    sandbox = owned_sandbox(user, sandbox_id)
    if sandbox.state not in USABLE_STATES:
        raise SandboxNotReady(f"The sandbox is {sandbox.state}; only a ready sandbox can be reset.")
    datasource = sandbox.datasource
    golden = golden_for_copying(datasource)
    old_name, new_name = sandbox.database_name, sandbox_name(datasource)
    try:
        copies = copy_of_golden(datasource, golden.database_name, new_name)
        size = copies.size_bytes(new_name)
    except (CopyFailed, CredentialDecryptionError) as error:
        _drop_quietly(datasource, new_name)
        if isinstance(error, LoginRightsMissing):
            raise SandboxRightsMissing(error.message) from error
        raise SandboxUnavailable(f"The sandbox could not be reset: {getattr(error, 'message', error)}") from error
    now = timezone.now()
    fields = {
        "database_name": new_name,
        "golden": golden,
        "sampled_tables": golden.sampled_tables,
        "size_bytes": size,
        "copied_at": now,
        "last_used_at": now,
    }
    if not move(sandbox, SandboxState.ACTIVE, sources=USABLE_STATES, **fields):
        _drop_quietly(datasource, new_name)
        raise SandboxNotReady("The sandbox was deleted or expired meanwhile.")
    _drop_quietly(datasource, old_name)
    record_event("sandbox.reset", actor=user, target=sandbox, request=request, detail={"golden": golden.database_name})
    return sandbox


def _drop_quietly(datasource: DataSource, name: str) -> None:
    """Drop a copy no row names any more, and its own login; a failure is logged (the copy
    then needs a hand; a login left is dropped by upkeep)."""
    try:
        remove_copy(datasource, name)
    except (CopyFailed, CredentialDecryptionError) as error:
        logger.warning("copy %s could not be dropped: %s", name, getattr(error, "message", error))


def delete_sandbox(user: User, sandbox_id: int, *, request: ClientRequest | None = None) -> None:
    """Drop the sandbox's copy for real. Its owner may; so may a sources administrator."""
    sandbox = Sandbox.objects.select_related("datasource").filter(pk=sandbox_id).first()
    if sandbox is None or sandbox.state == SandboxState.DELETED:
        raise SandboxNotFound("No sandbox with this id.")
    if sandbox.owner_id != user.pk and not access.may_administer_sources(user):
        raise selectors.refusal_for_non_owner(
            user, sandbox, "Only the owner of a sandbox, or an administrator, may delete it."
        )
    if sandbox.state == SandboxState.CREATING:
        raise SandboxNotReady("The sandbox is still being copied; delete it once it is ready.")
    if sandbox.state not in (SandboxState.EXPIRED, SandboxState.FAILED):
        move(sandbox, SandboxState.EXPIRED, sources=(SandboxState.POOLED, *USABLE_STATES))
    record_event("sandbox.delete", actor=user, target=sandbox, request=request, detail={"owner": sandbox.owner_id})
    if sandbox.dropped_at is None and not drop_copy(sandbox):
        raise SandboxUnavailable("The sandbox server did not answer; the copy will be dropped by the next upkeep.")
    if sandbox.state == SandboxState.FAILED:
        move(sandbox, SandboxState.DELETED)  # seen and dismissed: nothing is left of it
