from django.apps import AppConfig


class DataSourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "Data sources"

    def ready(self) -> None:
        from apps.datasources import signals  # noqa: F401  (connects the rights cache's receivers)
