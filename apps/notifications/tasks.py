from celery import shared_task

from apps.notifications import services


# Attempts are counted on the delivery itself (services.MAX_ATTEMPTS), so a delivery the
# sweeper queues again does not start a fresh series of retries.
@shared_task(bind=True, name="notifications.deliver", max_retries=None)
def deliver_notification(self, notification_id: int) -> None:
    """Deliver one notification; retried with exponential backoff (base, 2x, 4x, 8x, 16x seconds)."""
    try:
        services.deliver(notification_id)
    except services.DeliveryFailed as failure:
        raise self.retry(exc=failure, countdown=failure.retry_in) from failure


@shared_task(name="maintenance.requeue_stalled_deliveries")
def requeue_stalled_deliveries() -> int:
    return services.requeue_stalled_deliveries()
