"""Creating notifications and delivering them (Celery, `notifications` queue)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.notifications.chat import webhook_refusal
from apps.notifications.models import Channel, DeliveryStatus, Notification
from apps.notifications.webhooks import WebhookRefused, WebhookUnreachable, post_json
from querybase.errors import QueryBaseError


class NotificationNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class DeliveryFailed(Exception):
    """A delivery attempt failed; the task retries it with backoff."""


def notify_in_app(recipients, *, event: str, title: str, body: str = "", link: str = "") -> list[Notification]:
    """In-app messages are delivered by being stored."""
    now = timezone.now()
    return Notification.objects.bulk_create(
        [
            Notification(
                channel=Channel.IN_APP,
                recipient=user,
                event=event,
                title=title,
                body=body,
                link=link,
                status=DeliveryStatus.SENT,
                sent_at=now,
            )
            for user in recipients
        ]
    )


def post_to_chat(webhook_url: str, *, event: str, title: str, payload: dict, link: str = "") -> Notification:
    """Queue a Chat card. A URL outside the allowlist is recorded as failed, never called."""
    refusal = webhook_refusal(webhook_url)
    notification = Notification.objects.create(
        channel=Channel.GOOGLE_CHAT,
        # Shown to admins as given; a NUL cannot be stored in a text column.
        webhook_url=webhook_url.replace("\x00", "\\x00"),
        event=event,
        title=title,
        link=link,
        payload=payload,
        status=DeliveryStatus.FAILED if refusal else DeliveryStatus.PENDING,
        last_error=refusal or "",
    )
    if refusal:
        return notification
    from apps.notifications.tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk))
    return notification


def deliver(notification_id: int, *, final_attempt: bool) -> None:
    """One delivery attempt; raises DeliveryFailed so the task retries, unless it was the last."""
    notification = Notification.objects.get(pk=notification_id)
    if notification.status != DeliveryStatus.PENDING:
        return
    attempts = notification.attempts + 1
    try:
        # Checked again, and resolved here: the allowlist may have changed since, and
        # the request goes to the address that was checked.
        response = post_json(
            notification.webhook_url, notification.payload, timeout=settings.QUERYBASE_WEBHOOK_TIMEOUT_SECONDS
        )
        error = "" if response.ok else f"HTTP {response.status}: {response.text[:300]}"
    except WebhookRefused as refusal:
        _record(notification, attempts, DeliveryStatus.FAILED, refusal.message)  # no retry can help
        return
    except WebhookUnreachable as unreachable:
        error = str(unreachable)[:500]
    if not error:
        _record(notification, attempts, DeliveryStatus.SENT, "")
        return
    _record(notification, attempts, DeliveryStatus.FAILED if final_attempt else DeliveryStatus.PENDING, error)
    if not final_attempt:
        raise DeliveryFailed(error)


def _record(notification: Notification, attempts: int, status: str, error: str) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        attempts=attempts,
        status=status,
        last_error=error,
        sent_at=timezone.now() if status == DeliveryStatus.SENT else None,
    )


def inbox(user):
    return Notification.objects.filter(recipient=user, channel=Channel.IN_APP)


def unread_count(user) -> int:
    return inbox(user).filter(read_at__isnull=True).count()


def mark_read(user, notification_id: int) -> Notification:
    notification = inbox(user).filter(pk=notification_id).first()
    if notification is None:
        raise NotificationNotFound("No notification with this id.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def mark_all_read(user) -> int:
    return inbox(user).filter(read_at__isnull=True).update(read_at=timezone.now())
