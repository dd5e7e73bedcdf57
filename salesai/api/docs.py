"""The OpenAPI schema and Swagger UI: behind a login unless settings.API_DOCS_PUBLIC opens them.

Read at request time, so a deployment (or a test) changes it without re-importing drf-spectacular's views.
Swagger UI is the split view: its start-up script is a separate file, so the CSP needs no inline script.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request


class SchemaView(SpectacularAPIView):
    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if settings.API_DOCS_PUBLIC else [IsAuthenticated()]


class DocsView(SpectacularSwaggerSplitView):
    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())  # a page for people: the login form, not a 401
        return super().get(request, *args, **kwargs)
