"""Creating notifications and delivering them (Celery, `notifications` queue)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, Q
from django.utils import timezone

from apps.notifications.chat import webhook_refusal
from apps.notifications.exceptions import NotificationNotFound, WebhookRefused
from apps.notifications.models import Channel, DeliveryStatus, Notification
from apps.notifications.state import DELIVERY_STATUS
from apps.notifications.webhooks import WebhookUnreachable, post_json
from querybase.celery import enqueue_on_commit
from querybase.live_bus import publish_on_commit

# Attempts at posting one delivery: the first and five retries with backoff.
MAX_ATTEMPTS = 6


class DeliveryFailed(Exception):
    """A delivery attempt failed; the task retries it after `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base, 2x, 4x, 8x, 16x."""
    return settings.QUERYBASE_NOTIFY_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)


def notify_in_app(recipients, *, event: str, title: str, body: str = "", link: str = "") -> list[Notification]:
    """In-app messages are delivered by being stored."""
    now = timezone.now()
    created = Notification.objects.bulk_create(
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
    for notification in created:
        # The bell counts again when it hears of one (apps/live); a page open on what it
        # links to marks it read at once (static/querybase/live.js).
        publish_on_commit(
            [notification.recipient_id],
            "notification",
            {"notification": notification.pk, "event": event, "link": notification.link},
        )
    return created


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
        next_attempt_at=None if refusal else timezone.now(),
    )
    if refusal:
        return notification
    _queue_delivery(notification.pk)
    return notification


def _queue_delivery(notification_id: int) -> None:
    enqueue_on_commit("notifications.deliver", notification_id)


def deliver(notification_id: int, *, final_attempt: bool = False) -> None:
    """One delivery attempt; raises DeliveryFailed so the task retries, unless it was the
    last (MAX_ATTEMPTS, or `final_attempt`).

    The delivery is claimed first (pending → sending): of two deliveries of the same
    task, only the one that claimed it posts.
    """
    if not DELIVERY_STATUS.move(
        notification_id,
        DeliveryStatus.SENDING,
        from_={DeliveryStatus.PENDING},
        claimed_at=timezone.now(),
        attempts=F("attempts") + 1,
    ):
        return  # sent, failed for good, or being posted by another delivery right now
    notification = Notification.objects.get(pk=notification_id)
    attempts = notification.attempts
    final_attempt = final_attempt or attempts >= MAX_ATTEMPTS
    try:
        # Checked again, and resolved here: the allowlist may have changed since, and
        # the request goes to the address that was checked.
        response = post_json(
            notification.webhook_url, notification.payload, timeout=settings.QUERYBASE_WEBHOOK_TIMEOUT_SECONDS
        )
        error = "" if response.ok else f"HTTP {response.status}: {response.text[:300]}"
    except WebhookRefused as refusal:
        _record(notification, DeliveryStatus.FAILED, refusal.message)  # no retry can help
        return
    except WebhookUnreachable as unreachable:
        error = str(unreachable)[:500]
    if not error:
        _record(notification, DeliveryStatus.SENT, "")
        return
    if final_attempt:
        _record(notification, DeliveryStatus.FAILED, error)
        return
    retry_in = retry_delay(attempts)
    _record(notification, DeliveryStatus.PENDING, error, retry_in=retry_in)
    raise DeliveryFailed(error, retry_in)


def _record(notification: Notification, status: str, error: str, *, retry_in: float = 0) -> None:
    now = timezone.now()
    DELIVERY_STATUS.move(
        notification.pk,
        status,
        from_={DeliveryStatus.SENDING},
        last_error=error,
        sent_at=now if status == DeliveryStatus.SENT else None,
        next_attempt_at=now + timedelta(seconds=retry_in) if status == DeliveryStatus.PENDING else None,
    )


def requeue_stalled_deliveries() -> int:
    """Deliveries a dead worker left behind, queued again: pending ones whose next attempt
    is QUERYBASE_SWEEP_GRACE_SECONDS overdue, and claims (sending) older than the webhook
    timeout plus that grace, which go back to pending first. A card whose worker died
    mid-post may then be posted twice; a lost card is worse. Returns how many."""
    now = timezone.now()
    grace = timedelta(seconds=settings.QUERYBASE_SWEEP_GRACE_SECONDS)
    claim_cutoff = now - grace - timedelta(seconds=settings.QUERYBASE_WEBHOOK_TIMEOUT_SECONDS)
    overdue = Notification.objects.filter(status=DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__lt=now - grace) | Q(next_attempt_at__isnull=True, created_at__lt=now - grace)
    )
    notification_ids = list(overdue.values_list("pk", flat=True))
    stalled_claims = Notification.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=claim_cutoff)
    for notification_id in stalled_claims.values_list("pk", flat=True):
        if DELIVERY_STATUS.move(
            notification_id,
            DeliveryStatus.PENDING,
            from_={DeliveryStatus.SENDING},
            next_attempt_at=now,
            last_error="The worker posting this stopped before it answered; trying again.",
        ):
            notification_ids.append(notification_id)
    for notification_id in notification_ids:
        _queue_delivery(notification_id)
    return len(notification_ids)


def inbox(user: User):
    return Notification.objects.filter(recipient=user, channel=Channel.IN_APP)


def unread_count(user: User) -> int:
    return inbox(user).filter(read_at__isnull=True).count()


def mark_read(user: User, notification_id: int) -> Notification:
    notification = inbox(user).filter(pk=notification_id).first()
    if notification is None:
        raise NotificationNotFound("No notification with this id.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def mark_read_about(user: User, *, link: str) -> int:
    """The user's unread in-app notifications pointing at `link`, marked read: opening the
    page a notification links to is reading it."""
    return inbox(user).filter(read_at__isnull=True, link=link).update(read_at=timezone.now())


def mark_all_read(user: User) -> int:
    return inbox(user).filter(read_at__isnull=True).update(read_at=timezone.now())
