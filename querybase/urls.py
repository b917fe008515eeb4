from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.views import ThrottledLoginView
from apps.api import views as api_views

# The API first: its requests are the many, and Django tries the patterns in order (no
# dashboard path starts with api/).
urlpatterns = [
    path("api/v1/", include("apps.api.urls")),
    path("", include("apps.web.urls")),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("health", api_views.health, name="health"),
    path("version", api_views.version, name="version"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's settings as a script of their own (`?script`), not
    # inline: pages run no inline script (CONTENT_SECURITY_POLICY in settings).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "apps.api.errors.bad_request"
handler404 = "apps.api.errors.not_found"
handler500 = "apps.api.errors.server_error"
