"""Copying audit events from the outbox into the search store, by parallel indexers.

Each indexer claims a batch of outbox entries that nobody holds (no lease, or a lease run
out) with SELECT … FOR UPDATE SKIP LOCKED, so indexers running at once never claim the
same entries, and stamps its lease (owner, until) in the same short transaction. It then
writes the documents to the store and deletes the entries it still holds. An indexer
killed mid-batch leaves its entries leased; once the lease runs out another claims them.
Writing a document twice is harmless (the store upserts by event id), so a batch taken
over from an indexer that was only slow is at worst indexed twice, never lost.

Unprocessed entries are claimed, not "ids above the last seen": transactions commit out of
order, so an event with a smaller id can become visible after a larger one was indexed.
"""

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.models import AuditEvent, OutboxEntry
from apps.audit_search.documents import documents_for
from apps.audit_search.search_store import get_store
from querybase.logs import get_logger

logger = get_logger(__name__)


def default_owner(prefix: str = "indexer") -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Batch:
    owner: str
    entry_ids: list[int]
    event_ids: list[int]


def claim_batch(owner: str, size: int | None = None, lease_seconds: int | None = None) -> Batch | None:
    size = size or settings.AUDIT_INDEX_BATCH_SIZE
    lease = timedelta(seconds=lease_seconds or settings.AUDIT_INDEX_LEASE_SECONDS)
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEntry.objects.select_for_update(skip_locked=True)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("id")
            .values_list("id", "event_id")[:size]
        )
        if not rows:
            return None
        entry_ids = [entry_id for entry_id, _ in rows]
        OutboxEntry.objects.filter(pk__in=entry_ids).update(
            lease_owner=owner, lease_until=now + lease, attempts=F("attempts") + 1
        )
    return Batch(owner=owner, entry_ids=entry_ids, event_ids=[event_id for _, event_id in rows])


def index_batch(batch: Batch) -> int:
    """Write the batch's documents to the store, then drop the entries still ours (a
    lease taken over meanwhile belongs to the other indexer, which will drop them)."""
    events = list(AuditEvent.objects.filter(pk__in=batch.event_ids).order_by("id"))
    get_store().upsert(documents_for(events))
    OutboxEntry.objects.filter(pk__in=batch.entry_ids, lease_owner=batch.owner).delete()
    return len(events)


def index_once(
    owner: str, *, size: int | None = None, lease_seconds: int | None = None, hold: Callable[[], None] | None = None
) -> int:
    """Claim and index one batch; the number of events indexed (0: nothing to claim).
    `hold` runs between claim and indexing (the crash test keeps a batch claimed)."""
    batch = claim_batch(owner, size, lease_seconds)
    if batch is None:
        return 0
    if hold is not None:
        hold()
    return index_batch(batch)


def pending() -> int:
    """Entries not yet indexed, leased or not."""
    return OutboxEntry.objects.count()


def index_until_empty(
    owner: str,
    *,
    size: int | None = None,
    lease_seconds: int | None = None,
    poll_seconds: float = 0.5,
    deadline: float | None = None,
    wait_for_leases: bool = True,
) -> int:
    """Index until the outbox is empty (or `deadline`, a time.monotonic() value, passes).
    With `wait_for_leases`, entries leased by others are waited for: taken over if their
    lease runs out, or gone when their indexer finishes."""
    indexed = 0
    while deadline is None or time.monotonic() < deadline:
        count = index_once(owner, size=size, lease_seconds=lease_seconds)
        indexed += count
        if count:
            continue
        if not wait_for_leases or pending() == 0:
            break
        time.sleep(poll_seconds)
    return indexed
