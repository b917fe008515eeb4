"""Celery entry points of the queries app; the work is in services."""

from celery import shared_task

from apps.queries import abandoned_runs, exceptions, execution, result_store, run_lifecycle

READ_RETRIES = run_lifecycle.MAX_RUN_ATTEMPTS - 1


@shared_task(bind=True, name="queries.execute_read", max_retries=READ_RETRIES)
def execute_read(self, run_id: str) -> None:
    """Run a queued read. Only reads are retried (a connection failure to the source),
    with backoff; a read changes nothing, so running it again is safe."""
    final_attempt = self.request.retries >= READ_RETRIES
    try:
        execution.execute_run(run_id, final_attempt=final_attempt)
    except exceptions.TransientSourceError as error:
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error


@shared_task(name="maintenance.settle_abandoned_runs")
def settle_abandoned_runs() -> int:
    return abandoned_runs.settle_abandoned_runs()


@shared_task(name="maintenance.prune_results")
def prune_results() -> int:
    return result_store.prune_stored_results()
