"""Routes of the REST API, /api/v1/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenRefreshView

from apps.accounts.views import ApiKeyListCreateView, ApiKeyRevokeView, AuditedTokenObtainPairView, MeView
from apps.api.metrics import MetricsView
from apps.approvals import views as approval_views
from apps.audit_search import views as audit_views
from apps.datasources.views import DataSourceViewSet
from apps.live import views as live_views
from apps.notifications import views as notification_views
from apps.queries import views as query_views
from apps.sandboxes import views as sandbox_views
from apps.submissions import views as submission_views

# Namespaced: the dashboard has pages of the same names (notifications, approvals), and an
# unqualified {% url %} must find the page, never this API.
app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("saved-queries", query_views.SavedQueryViewSet, basename="saved-query")

urlpatterns = [
    path("auth/token", AuditedTokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/me", MeView.as_view(), name="me"),
    path("auth/api-keys", ApiKeyListCreateView.as_view(), name="api-keys"),
    path("auth/api-keys/<int:api_key_id>", ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("queries", submission_views.QuerySubmitView.as_view(), name="query-submit"),
    path("queries/analyze", query_views.QueryAnalyzeView.as_view(), name="query-analyze"),
    path("queries/export", submission_views.QueryExportView.as_view(), name="query-export"),
    path("queries/history", query_views.HistoryView.as_view(), name="query-history"),
    path("queries/<uuid:run_id>", query_views.QueryRunView.as_view(), name="query-run"),
    path("queries/<uuid:run_id>/results", query_views.QueryResultsView.as_view(), name="query-results"),
    path("queries/<uuid:run_id>/cancel", query_views.QueryCancelView.as_view(), name="query-cancel"),
    path("queries/<uuid:run_id>/export", submission_views.QueryRunExportView.as_view(), name="query-run-export"),
    path("saved-queries/shared/<str:token>", query_views.SharedSavedQueryView.as_view(), name="saved-query-shared"),
    path("approvals", approval_views.ApprovalListView.as_view(), name="approvals"),
    path("approvals/<int:request_id>", approval_views.ApprovalDetailView.as_view(), name="approval"),
    path("approvals/<int:request_id>/review", approval_views.ApprovalReviewView.as_view(), name="approval-review"),
    path("approvals/<int:request_id>/cancel", approval_views.ApprovalCancelView.as_view(), name="approval-cancel"),
    path("approvals/<int:request_id>/presence", live_views.PresenceView.as_view(), name="approval-presence"),
    path("approvals/<int:request_id>/dry-run", approval_views.ApprovalDryRunView.as_view(), name="approval-dry-run"),
    path(
        "datasources/<int:datasource_id>/approvers",
        approval_views.DataSourceApproversView.as_view(),
        name="datasource-approvers",
    ),
    path(
        "datasources/<int:datasource_id>/sandbox",
        sandbox_views.DataSourceSandboxView.as_view(),
        name="datasource-sandbox",
    ),
    path("sandboxes", sandbox_views.SandboxListView.as_view(), name="sandboxes"),
    path("sandboxes/<int:sandbox_id>", sandbox_views.SandboxDetailView.as_view(), name="sandbox"),
    path("sandboxes/<int:sandbox_id>/reset", sandbox_views.SandboxResetView.as_view(), name="sandbox-reset"),
    path("sandboxes/<int:sandbox_id>/schema", sandbox_views.SandboxSchemaView.as_view(), name="sandbox-schema"),
    path("sandboxes/<int:sandbox_id>/indexes", sandbox_views.SandboxIndexView.as_view(), name="sandbox-indexes"),
    path(
        "sandboxes/<int:sandbox_id>/uploads/preview",
        sandbox_views.SandboxUploadPreviewView.as_view(),
        name="sandbox-upload-preview",
    ),
    path("sandboxes/<int:sandbox_id>/uploads", sandbox_views.SandboxUploadView.as_view(), name="sandbox-uploads"),
    path("sandboxes/<int:sandbox_id>/promote", approval_views.SandboxPromoteView.as_view(), name="sandbox-promote"),
    path("notifications", notification_views.NotificationListView.as_view(), name="notifications"),
    path("notifications/unread-count", notification_views.UnreadCountView.as_view(), name="notifications-unread"),
    path("notifications/read-all", notification_views.MarkAllReadView.as_view(), name="notifications-read-all"),
    path(
        "notifications/<int:notification_id>/read", notification_views.MarkReadView.as_view(), name="notification-read"
    ),
    path("audit/events", audit_views.AuditEventsView.as_view(), name="audit-events"),
    path("audit/records", audit_views.AuditRecordsView.as_view(), name="audit-records"),
    path("audit/search", audit_views.AuditSearchView.as_view(), name="audit-search"),
    path("events", live_views.EventStreamView.as_view(), name="events"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("", include(router.urls)),
]
