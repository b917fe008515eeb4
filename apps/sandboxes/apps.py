from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    name = "apps.sandboxes"
    label = "sandboxes"
    verbose_name = "Sandboxes"

    def ready(self) -> None:
        from apps.sandboxes import signals  # noqa: F401  (connects the receivers)
