from celery import shared_task

from apps.notifications import services

MAX_RETRIES = 5


@shared_task(bind=True, name="notifications.deliver", max_retries=MAX_RETRIES)
def deliver_notification(self, notification_id: int) -> None:
    """Deliver one notification; retried with exponential backoff (base, 2x, 4x, 8x, 16x seconds)."""
    try:
        services.deliver(notification_id, final_attempt=self.request.retries >= MAX_RETRIES)
    except services.DeliveryFailed as error:
        from django.conf import settings

        countdown = settings.QUERYBASE_NOTIFY_RETRY_BASE_SECONDS * 2**self.request.retries
        raise self.retry(exc=error, countdown=countdown) from error
