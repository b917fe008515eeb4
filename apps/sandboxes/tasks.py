"""Celery entry points of the sandboxes app; the work is in the services."""

from celery import shared_task

from apps.sandboxes import upkeep


@shared_task(name="maintenance.sandbox_upkeep")
def sandbox_upkeep() -> dict[str, int]:
    """Run by the beat schedule: idle marks, expiry and drops, golden refresh, pool refill."""
    return upkeep.sandbox_upkeep()
