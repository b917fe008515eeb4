from django.contrib import admin
from django.http import HttpRequest

from apps.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Deliveries with their status and last error, so a failing webhook is visible."""

    list_display = ("created_at", "channel", "event", "recipient", "status", "attempts", "last_error")
    list_filter = ("channel", "status", "event")
    search_fields = ("title", "recipient__username", "last_error")
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest):
        return False
