"""The pool of ready, unassigned copies per source: refilled by the maintenance schedule,
claimed by users."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.datasources.models import DataSource
from apps.sandboxes.copies import make_copy
from apps.sandboxes.golden import golden_for_copying
from apps.sandboxes.models import Sandbox, SandboxState
from apps.sandboxes.naming import sandbox_name


def refill_pool(datasource: DataSource) -> int:
    """Make copies until the source has `sandbox_pool_size` ready or coming; returns how
    many were made. The rows are created under a lock on the source's row, so two
    upkeeps running at once do not both fill the same gap."""
    golden = golden_for_copying(datasource)
    with transaction.atomic():
        DataSource.objects.select_for_update().filter(pk=datasource.pk).first()
        waiting = Sandbox.objects.filter(
            datasource=datasource,
            owner=None,
            for_dry_run=False,
            state__in=[SandboxState.CREATING, SandboxState.POOLED],
        ).count()
        rows = [
            Sandbox.objects.create(
                datasource=datasource,
                database_name=sandbox_name(datasource),
                golden=golden,
                sampled_tables=golden.sampled_tables,
            )
            for _ in range(max(datasource.sandbox_pool_size - waiting, 0))
        ]
    for sandbox in rows:
        make_copy(sandbox, golden, target=SandboxState.POOLED)
    return len(rows)


def claim_pooled(user: User, datasource: DataSource) -> Sandbox | None:
    """Give `user` the oldest ready copy of `datasource`, or None if the pool is empty.

    Two users asking at once get two different copies: the row is locked with SKIP LOCKED
    (the second asker skips to the next copy instead of waiting for the first), and taken
    with a conditional update (which alone decides on databases without row locks).
    """
    pooled = Sandbox.objects.filter(datasource=datasource, state=SandboxState.POOLED, owner=None).order_by("created_at")
    for _ in range(5):
        try:
            with transaction.atomic():
                sandbox = pooled.select_for_update(skip_locked=True).first()
                if sandbox is None:
                    return None
                now = timezone.now()
                taken = Sandbox.objects.filter(pk=sandbox.pk, state=SandboxState.POOLED, owner=None).update(
                    owner=user, state=SandboxState.ACTIVE, assigned_at=now, last_used_at=now
                )
        except IntegrityError:
            return None  # the same user was given a sandbox by a parallel request meanwhile
        if taken:
            sandbox.refresh_from_db()
            return sandbox
    return None
