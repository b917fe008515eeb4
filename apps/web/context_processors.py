from django.http import HttpRequest

from apps.approvals.selectors import awaiting_review_by
from apps.notifications.services import unread_count


def notification_bell(request: HttpRequest) -> dict:
    """The unread count shown on every page's bell."""
    if not request.user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(request.user)}


def approvals_awaiting(request: HttpRequest) -> dict:
    """How many pending requests the user may still decide on, shown on the Approvals tab."""
    if not request.user.is_authenticated:
        return {}
    return {"awaiting_review": awaiting_review_by(request.user).count()}
