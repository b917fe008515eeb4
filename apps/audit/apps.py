from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.audit import tasks  # noqa: F401

        post_migrate.connect(_prepare_search_store, sender=self)


def _prepare_search_store(**kwargs) -> None:
    """`migrate` also makes the audit search store ready (its database where the role may
    create it, and its tables). A store that cannot be reached now does not fail the
    migration: the store is prepared again on first use, and the outbox keeps the events."""
    from apps.audit.search_store import get_store
    from querybase.logs import get_logger

    try:
        get_store()
    except Exception as error:
        get_logger(__name__).warning("audit search store not ready", error=str(error))
