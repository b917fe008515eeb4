from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.audit import tasks  # noqa: F401
