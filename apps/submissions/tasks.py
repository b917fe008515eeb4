"""Celery entry points of submissions; the work is in apps/submissions/execution.py."""

from celery import shared_task
from django.conf import settings

from apps.queries import exceptions, run_lifecycle
from apps.submissions import execution

READ_RETRIES = run_lifecycle.MAX_RUN_ATTEMPTS - 1


# Named for the queue it runs on (CELERY_TASK_ROUTES: queries.* → queries), as queued runs
# are sent by name (apps.queries.run_lifecycle.enqueue).
@shared_task(bind=True, name="queries.execute_read", max_retries=READ_RETRIES)
def execute_read(self, run_id: str) -> None:
    """Run a queued read. Only reads are retried (a connection failure to the source),
    with backoff; a read changes nothing, so running it again is safe."""
    final_attempt = self.request.retries >= READ_RETRIES
    try:
        execution.execute_run(run_id, final_attempt=final_attempt)
    except exceptions.TransientSourceError as error:
        countdown = settings.QUERYBASE_READ_RETRY_BASE_SECONDS * 2**self.request.retries
        raise self.retry(exc=error, countdown=countdown) from error
