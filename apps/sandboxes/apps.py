from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    name = "apps.sandboxes"
    label = "sandboxes"
    verbose_name = "Sandboxes"

    def ready(self) -> None:
        # signals connects the receivers; tasks registers this app's Celery tasks by name
        # (querybase.celery.enqueue_on_commit).
        from apps.sandboxes import signals, tasks  # noqa: F401
