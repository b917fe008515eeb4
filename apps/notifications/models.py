"""Deliveries to people: in-app messages and Google Chat cards. Nothing is lost: a
failed delivery stays here with its attempts and last error, and is retried."""

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    GOOGLE_CHAT = "google_chat", "Google Chat"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


# The only moves a delivery can make; services change the status through
# apps.notifications.state.DELIVERY_STATUS (one conditional UPDATE). A delivery is claimed
# (pending → sending) before it posts, so a task delivered twice posts once;
# sending → pending is a failed attempt to retry, or a claim whose worker died.
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.SENDING, DeliveryStatus.FAILED}),
    DeliveryStatus.SENDING: frozenset({DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.FAILED}),
}


class Notification(models.Model):
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    webhook_url = models.URLField(max_length=1000, blank=True)
    event = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the current attempt was claimed (status sending), and when the next one is due
    # (status pending): the sweeper re-queues deliveries whose worker let these pass.
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "channel", "read_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.title}"
