"""Celery entry points of the queries app; the work is in services."""

from celery import shared_task

from apps.queries import abandoned_runs, result_store


@shared_task(name="maintenance.settle_abandoned_runs")
def settle_abandoned_runs() -> int:
    return abandoned_runs.settle_abandoned_runs()


@shared_task(name="maintenance.prune_results")
def prune_results() -> int:
    return result_store.prune_stored_results()
