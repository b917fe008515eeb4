from django.apps import AppConfig


class DataSourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "Data sources"
