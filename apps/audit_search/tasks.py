"""Celery entry points of the audit app; the work is in apps/audit_search/indexer.py."""

import time

from celery import shared_task

from apps.audit_search import indexer
from querybase.logs import get_logger

logger = get_logger(__name__)

# Beat runs this every few seconds; one run stops before the next is due to start, and runs
# that overlap share the outbox safely (SKIP LOCKED).
INDEX_BUDGET_SECONDS = 50


@shared_task(name="maintenance.index_audit_outbox")
def index_audit_outbox(budget_seconds: float = INDEX_BUDGET_SECONDS) -> int:
    try:
        return indexer.index_until_empty(
            indexer.default_owner("celery"),
            deadline=time.monotonic() + min(budget_seconds, INDEX_BUDGET_SECONDS),
            wait_for_leases=False,
        )
    except Exception:
        # The store is away: the entries wait (their lease runs out) for the next run. On
        # the embedded default this runs inside a request, which must not fail for it.
        logger.exception("audit indexing failed; the outbox keeps the events")
        return 0
