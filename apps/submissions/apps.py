from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    """Where SQL enters: a read runs (from the cache, inline, or queued for a worker), a
    write becomes an approval request, SQL for a sandbox runs there. Above queries,
    approvals and sandboxes, which it composes; nothing below imports it."""

    name = "apps.submissions"
    label = "submissions"
    verbose_name = "Submissions"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.submissions import tasks  # noqa: F401
