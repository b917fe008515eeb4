"""Celery entry points of the sandboxes app; the work is in the services."""

from celery import shared_task

from apps.sandboxes import lifecycle, upkeep


@shared_task(name="maintenance.sandbox_upkeep")
def sandbox_upkeep() -> dict[str, int]:
    """Run by the beat schedule: idle marks, expiry and drops, golden refresh, pool refill."""
    return upkeep.sandbox_upkeep()


@shared_task(name="sandboxes.make_copy")
def make_copy(sandbox_id: int) -> None:
    """An on-demand copy a user waits for (POST …/sandbox?background=1)."""
    lifecycle.finish_copy(sandbox_id)
