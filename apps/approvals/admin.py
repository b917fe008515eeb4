from django.contrib import admin
from django.http import HttpRequest

from apps.approvals.models import ApprovalRequest, ApprovalReview


class ReviewInline(admin.TabularInline):
    model = ApprovalReview
    extra = 0
    can_delete = False
    readonly_fields = ("reviewer", "decision", "comment", "created_at")

    def has_add_permission(self, request: HttpRequest, obj=None):
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change state only through the review workflow."""

    list_display = ("id", "datasource", "requester", "status", "risk", "created_at")
    list_filter = ("status", "risk", "datasource")
    search_fields = ("sql", "reason", "requester__username")
    inlines = [ReviewInline]
    readonly_fields = [field.name for field in ApprovalRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest):
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None):
        return False
