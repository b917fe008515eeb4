"""Refreshing a source's golden copy, the copy every sandbox of the source is made from."""

import time

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.exceptions import SandboxUnavailable
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxState
from apps.sandboxes.naming import golden_name
from apps.sandboxes.roles import check_login_rights

# One refresh per source at a time, across processes; a dead holder frees it after this.
_REFRESH_LOCK = "sandbox-golden-refresh:{}"
_REFRESH_LOCK_SECONDS = 3600
_WAIT_FOR_OTHER_REFRESH_SECONDS = 600


def current_golden(datasource: DataSource) -> GoldenCopy | None:
    return GoldenCopy.objects.filter(datasource=datasource, is_current=True).first()


def golden_for_copying(datasource: DataSource) -> GoldenCopy:
    """The current golden copy, made first if the source has none yet."""
    return current_golden(datasource) or refresh_golden(datasource)


def refresh_golden(datasource: DataSource, *, actor: User | None = None) -> GoldenCopy:
    """Build a new golden copy from the source and make it current. Copies already made
    keep their data; pooled copies of the old one are expired, so the pool refills with
    fresh ones. If another process is refreshing the source, wait for its result."""
    lock = _REFRESH_LOCK.format(datasource.pk)
    if not cache.add(lock, 1, _REFRESH_LOCK_SECONDS):
        return _wait_for_other_refresh(datasource)
    try:
        return _refresh(datasource, actor)
    finally:
        cache.delete(lock)


def _wait_for_other_refresh(datasource: DataSource) -> GoldenCopy:
    """Another process holds the refresh lock: its golden copy is the one to use."""
    deadline = time.monotonic() + _WAIT_FOR_OTHER_REFRESH_SECONDS
    while cache.get(_REFRESH_LOCK.format(datasource.pk)) and time.monotonic() < deadline:
        time.sleep(0.5)
    golden = current_golden(datasource)
    if golden is None:
        raise SandboxUnavailable("The golden copy is still being made, or making it failed; try again.")
    return golden


def _refresh(datasource: DataSource, actor: User | None) -> GoldenCopy:
    name = golden_name(datasource)
    # The right to make logins first: without it no copy is made (nothing is left behind then).
    check_login_rights(datasource)
    try:
        copies = copies_for(datasource)
        report = copies.build_golden(name, datasource.sandbox_max_rows_per_table)
        size = copies.size_bytes(name)
    except CopyFailed as error:
        raise SandboxUnavailable(f"The golden copy could not be made: {error.message}") from error
    except CredentialDecryptionError as error:
        raise SandboxUnavailable(f"The source's credentials cannot be read: {error}") from error
    now = timezone.now()
    with transaction.atomic():
        retired = list(GoldenCopy.objects.select_for_update().filter(datasource=datasource, is_current=True))
        GoldenCopy.objects.filter(pk__in=[old.pk for old in retired]).update(is_current=False, retired_at=now)
        golden = GoldenCopy.objects.create(
            datasource=datasource,
            database_name=name,
            sampled_tables=report.sampled_tables,
            notes=report.notes,
            size_bytes=size,
        )
        # Pooled copies hold the old data: nobody has them yet, so replace them.
        Sandbox.objects.filter(datasource=datasource, state=SandboxState.POOLED).update(state=SandboxState.EXPIRED)
        record_event(
            "sandbox.golden_refresh",
            actor=actor,
            target=datasource,
            detail={"golden": name, "sampled_tables": report.sampled_tables, "notes": report.notes, "size_bytes": size},
        )
    drop_retired_goldens(datasource)
    return golden


def drop_retired_goldens(datasource: DataSource) -> int:
    """Drop replaced golden copies. One a copy is still being made from cannot be dropped
    yet: it is left for the next upkeep."""
    dropped = 0
    for golden in GoldenCopy.objects.filter(datasource=datasource, is_current=False, dropped_at=None):
        try:
            copies_for(datasource).drop(golden.database_name)
        except (CopyFailed, CredentialDecryptionError):
            continue
        GoldenCopy.objects.filter(pk=golden.pk).update(dropped_at=timezone.now())
        dropped += 1
    return dropped
