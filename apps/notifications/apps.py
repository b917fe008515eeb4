from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.notifications import tasks  # noqa: F401
