"""The append-only audit log."""

from django.conf import settings
from django.db import models


class AuditLogIsAppendOnly(Exception):
    """Raised when code tries to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("audit events are never updated")

    def delete(self):
        raise AuditLogIsAppendOnly("audit events are never deleted")


class AuditEvent(models.Model):
    """Who did what, on which object, when and from where.

    The actor is kept as a plain reference plus a username snapshot: deleting a user
    must not touch (or cascade into) the log. On PostgreSQL a trigger also refuses
    UPDATE and DELETE, so not even raw SQL from the app can rewrite history.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # The API request (X-Request-ID) the event came from; empty for workers' own events
    # unless the task carried the request's log context.
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Only what this table is asked here: the admin's newest first (created_at), filtered
        # by action, and a record's events. Searches go to the search store
        # (apps/audit_search), so an event, written with every read, updates few indexes.
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["action"], name="audit_event_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AuditLogIsAppendOnly("audit events are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("audit events are never deleted")


class OutboxEntry(models.Model):
    """An audit event waiting to be copied into the search store (apps/audit_search/search_store).

    Written in the event's own transaction, so an event exists exactly when its entry does:
    nothing is lost while the indexers are down. Indexers claim unprocessed entries (not
    "ids above the last one seen": transactions commit out of order, so a smaller id may
    appear after a larger one was read) with FOR UPDATE SKIP LOCKED and take a lease; an
    entry whose lease ran out (its indexer died) is claimed again. Entries are deleted once
    their documents are in the store; indexing twice is harmless (upsert by event id).
    """

    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "audit outbox entry"
        verbose_name_plural = "audit outbox"

    def __str__(self) -> str:
        return f"outbox entry for event {self.event_id}"
