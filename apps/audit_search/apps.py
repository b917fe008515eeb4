from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class AuditSearchConfig(AppConfig):
    """The search side of the audit log: the indexers that copy events from the outbox into
    a search store of its own, the reports over that store, their pages and the log's admin.
    Apart from `apps.audit`, which every app writes to, so that writing an event never
    depends on what reads them."""

    name = "apps.audit_search"
    label = "audit_search"
    verbose_name = "Audit search"

    def ready(self) -> None:
        # Registers this app's Celery tasks by name (querybase.celery.enqueue_on_commit).
        from apps.audit_search import tasks  # noqa: F401

        # post_migrate is sent to apps with models only: the store follows the audit log's.
        post_migrate.connect(_prepare_search_store, sender=apps.get_app_config("audit"))


def _prepare_search_store(**kwargs) -> None:
    """`migrate` also makes the audit search store ready (its database where the role may
    create it, and its tables). A store that cannot be reached now does not fail the
    migration: the store is prepared again on first use, and the outbox keeps the events."""
    from apps.audit_search.search_store import get_store
    from querybase.logs import get_logger

    try:
        get_store()
    except Exception as error:
        get_logger(__name__).warning("audit search store not ready", error=str(error))
