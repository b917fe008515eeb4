from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.approvals import tasks  # noqa: F401
