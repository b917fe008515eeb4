from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    name = "apps.sandboxes"
    label = "sandboxes"
    verbose_name = "Sandboxes"

    def ready(self) -> None:
        from apps.sandboxes import signals  # noqa: F401  (connects the receivers)

        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.sandboxes import tasks  # noqa: F401
