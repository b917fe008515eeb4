from django.http import HttpRequest

from apps.notifications.services import unread_count


def notification_bell(request: HttpRequest) -> dict:
    """The unread count shown on every page's bell."""
    if not request.user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(request.user)}
