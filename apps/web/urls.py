from django.urls import path

from apps.web import views

urlpatterns = [
    path("", views.workspace, name="home"),
    path("history/", views.history, name="history"),
    path("saved/", views.saved, name="saved"),
    path("shared/<str:token>/", views.shared, name="shared"),
    path("approvals/", views.approvals_inbox, name="approvals"),
    path("approvals/<int:request_id>", views.approval_detail, name="approval-detail"),
    path("notifications/", views.notifications_page, name="notifications"),
    path("audit/", views.audit_search, name="audit"),
    path("favicon.ico", views.favicon, name="favicon"),
]
