from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from salesai.api.docs import DocsView, SchemaView
from salesai.api.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/app/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # Reps are not staff, so they log in here rather than through the admin's staff-only form.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("salesai.api.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    path("app/", include("salesai.dashboard.urls")),
    path("webhooks/", include("crm_connectors.urls")),
]
