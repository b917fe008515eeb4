"""What the maintenance schedule does for sandboxes, source by source: mark idle ones,
expire and drop unused ones, refresh golden copies, refill pools, give copies made when
one login served the whole source a login of their own, drop copies' logins a dead
process left, and drop what logins a source whose sandboxes are off still has once its
last copy is gone."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources.models import DataSource
from apps.sandboxes.copies import drop_copy
from apps.sandboxes.exceptions import SandboxError
from apps.sandboxes.golden import current_golden, drop_retired_goldens, refresh_golden
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxState
from apps.sandboxes.pool import refill_pool
from apps.sandboxes.roles import adopt_copies_of_shared_login, drop_stray_copy_logins, drop_unused_roles
from apps.sandboxes.state import move

logger = logging.getLogger(__name__)


def sandbox_upkeep() -> dict[str, int]:
    """One pass over every source; a failing source is logged and does not stop the rest."""
    counts = {"idle": 0, "expired": 0, "dropped": 0, "pooled": 0, "refreshed": 0, "failed_settled": 0}
    counts["roles_dropped"] = counts["copies_adopted"] = 0
    counts["idle"] = mark_idle()
    counts["expired"] = expire_unused()
    for datasource in DataSource.objects.filter(Q(sandbox_enabled=True) | Q(sandboxes__isnull=False)).distinct():
        counts["copies_adopted"] += adopt_copies_of_shared_login(datasource)
        try:
            counts["refreshed"] += refresh_if_due(datasource)
            if datasource.sandbox_enabled and datasource.is_active:
                counts["pooled"] += refill_pool(datasource)
        except SandboxError as error:
            logger.warning("sandbox upkeep of source %s failed: %s", datasource.pk, error.message)
        drop_retired_goldens(datasource)
    counts["dropped"] = drop_expired()
    counts["failed_settled"] = settle_failed()
    counts["stray_logins_dropped"] = drop_stray_copy_logins()
    for datasource in DataSource.objects.filter(sandbox_roles__isnull=False, sandbox_roles__dropped_at=None).distinct():
        counts["roles_dropped"] += drop_unused_roles(datasource)
    return counts


def mark_idle() -> int:
    """Active sandboxes unused for QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES show as idle."""
    since = timezone.now() - timedelta(minutes=settings.QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES)
    return Sandbox.objects.filter(state=SandboxState.ACTIVE, last_used_at__lt=since).update(state=SandboxState.IDLE)


def expire_unused() -> int:
    """Expire what nobody will use: sandboxes unused for their source's idle TTL, pooled
    copies of sources whose sandboxes were turned off, sandboxes of deleted users, and
    copies a dead process left half made."""
    now = timezone.now()
    expired = 0
    in_use = Sandbox.objects.filter(state__in=[SandboxState.ACTIVE, SandboxState.IDLE]).select_related("datasource")
    for sandbox in in_use:
        ttl = timedelta(hours=sandbox.datasource.sandbox_idle_ttl_hours)
        if sandbox.last_used_at is None or sandbox.last_used_at >= now - ttl:
            continue
        # Conditional on the last use read here: a use meanwhile keeps the sandbox.
        unused = Sandbox.objects.filter(pk=sandbox.pk, state=sandbox.state, last_used_at=sandbox.last_used_at)
        if unused.update(state=SandboxState.EXPIRED):
            expired += 1
            record_event("sandbox.expire", target=sandbox, detail={"last_used_at": sandbox.last_used_at.isoformat()})
    expired += Sandbox.objects.filter(
        Q(datasource__sandbox_enabled=False) | Q(datasource__is_active=False), state=SandboxState.POOLED
    ).update(state=SandboxState.EXPIRED)
    # The owner was deleted: nobody can use the copy any more.
    expired += Sandbox.objects.filter(owner=None, state__in=[SandboxState.ACTIVE, SandboxState.IDLE]).update(
        state=SandboxState.EXPIRED
    )
    stale = now - timedelta(minutes=settings.QUERYBASE_SANDBOX_STALE_CREATING_MINUTES)
    Sandbox.objects.filter(state=SandboxState.CREATING, created_at__lt=stale).update(
        state=SandboxState.FAILED, error_message="The process making this copy stopped."
    )
    return expired


def drop_expired() -> int:
    """Drop the copies of expired sandboxes, and whatever failed copies left on the server."""
    dropped = 0
    leftovers = Q(state=SandboxState.EXPIRED) | Q(state=SandboxState.FAILED, dropped_at=None)
    for sandbox in Sandbox.objects.filter(leftovers).select_related("datasource"):
        dropped += drop_copy(sandbox)
    return dropped


def settle_failed() -> int:
    """A failed sandbox stays `failed`, with its reason, for its owner to see; once nothing
    of it is left on the server it becomes `deleted` when nobody needs to see it any more:
    it had no owner (a pool or dry-run copy), its owner has a newer sandbox on the source
    (they asked again), or it is older than the source's idle TTL."""
    now = timezone.now()
    settled = 0
    failed = Sandbox.objects.filter(state=SandboxState.FAILED, dropped_at__isnull=False).select_related("datasource")
    for sandbox in failed:
        ttl = timedelta(hours=sandbox.datasource.sandbox_idle_ttl_hours)
        newer = Sandbox.objects.filter(
            owner_id=sandbox.owner_id, datasource_id=sandbox.datasource_id, created_at__gt=sandbox.created_at
        )
        if sandbox.owner_id is None or sandbox.created_at < now - ttl or newer.exists():
            settled += move(sandbox, SandboxState.DELETED)
    return settled


def refresh_if_due(datasource: DataSource) -> int:
    """Refresh the golden copy of an enabled source when it is older than
    QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS (or missing)."""
    if not (datasource.sandbox_enabled and datasource.is_active):
        # Sandboxes turned off: the golden copy goes too (drop_retired_goldens drops it).
        GoldenCopy.objects.filter(datasource=datasource, is_current=True).update(
            is_current=False, retired_at=timezone.now()
        )
        return 0
    golden = current_golden(datasource)
    due = timezone.now() - timedelta(hours=settings.QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS)
    if golden is not None and golden.refreshed_at >= due:
        return 0
    refresh_golden(datasource)
    return 1
