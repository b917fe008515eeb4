from django.apps import AppConfig


class QueriesConfig(AppConfig):
    name = "apps.queries"
    label = "queries"
    verbose_name = "Queries"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.queries import signals, tasks  # noqa: F401
