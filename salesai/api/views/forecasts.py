"""/api/v1/forecasts/: stored forecast runs (history), the latest one with its rows, and past accuracy."""

from django.db.models import QuerySet
from django.http import Http404
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from ml.models import ForecastSnapshot
from salesai.api.filters import OrganizationFilterSet
from salesai.api.serializers.forecasts import (
    ForecastAccuracySerializer,
    ForecastQuerySerializer,
    ForecastSnapshotDetailSerializer,
    ForecastSnapshotSerializer,
)
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.models import Organization
from salesai.core.selectors import organization_default_for_user
from salesai.dashboard.forecast_selectors import (
    forecast_accuracy_get,
    forecast_latest_get,
    forecast_snapshots_for_user,
    forecast_snapshots_with_rows,
)

ORGANIZATION_NEEDED = "You belong to several organisations (or none): say which with ?organization=<slug>."
QUERY_PARAMETERS = [
    OpenApiParameter("organization", str, description="organisation slug or id"),
    OpenApiParameter("method", str, enum=ForecastSnapshot.Method.values, description="default: our"),
    OpenApiParameter("scope", str, enum=["org", "team", "owner", "pipeline"], description="only rows of one scope"),
]


class ForecastSnapshotFilter(OrganizationFilterSet):
    method = django_filters.ChoiceFilter(choices=ForecastSnapshot.Method.choices)
    as_of_after = django_filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_before = django_filters.DateFilter(field_name="as_of", lookup_expr="lte")

    class Meta:
        model = ForecastSnapshot
        fields = ["organization", "method"]


@extend_schema_view(
    list=extend_schema(
        tags=["forecasts"],
        summary="Stored forecast runs, newest first (how the forecast moved)",
    ),
    retrieve=extend_schema(
        tags=["forecasts"],
        summary="One forecast run with its rows per scope and month",
        parameters=[QUERY_PARAMETERS[2]],
    ),
)
class ForecastViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    filterset_class = ForecastSnapshotFilter
    ordering_fields = ["created_at", "as_of"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ForecastSnapshot]:
        snapshots = forecast_snapshots_for_user(user=self.request.user)
        if self.action == "retrieve":
            return forecast_snapshots_with_rows(queryset=snapshots, scope=self._query().get("scope"))
        return snapshots

    def get_serializer_class(self) -> type[BaseSerializer]:
        return ForecastSnapshotSerializer if self.action == "list" else ForecastSnapshotDetailSerializer

    def _query(self) -> dict:
        query = ForecastQuerySerializer(data=self.request.query_params, context={"request": self.request})
        query.is_valid(raise_exception=True)
        return query.validated_data

    def _organization(self, query: dict) -> Organization:
        organization = query.get("organization") or organization_default_for_user(user=self.request.user)
        if organization is None:
            raise ValidationError({"organization": [ORGANIZATION_NEEDED]})
        return organization

    @extend_schema(
        tags=["forecasts"],
        summary="The latest forecast run with its rows (404 when none was stored yet)",
        parameters=QUERY_PARAMETERS,
        responses=ForecastSnapshotDetailSerializer,
    )
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        query = self._query()
        organization = self._organization(query)
        snapshot = forecast_latest_get(organization_id=organization.id, method=query["method"])
        if snapshot is None:
            raise Http404("No forecast yet.")
        if query.get("scope"):
            snapshot.rows_prefetched = [row for row in snapshot.rows_prefetched if row.scope == query["scope"]]
        return Response(ForecastSnapshotDetailSerializer(snapshot).data)

    @extend_schema(
        tags=["forecasts"],
        summary="How accurate past forecasts were: each closed month against the forecast made before it",
        parameters=[QUERY_PARAMETERS[0]],
        responses=ForecastAccuracySerializer,
    )
    @action(detail=False, methods=["get"])
    def accuracy(self, request: Request) -> Response:
        organization = self._organization(self._query())
        accuracy = forecast_accuracy_get(organization_id=organization.id)
        body = {"organization": organization.slug, "methods": accuracy.methods, "rows": accuracy.rows}
        return Response(ForecastAccuracySerializer(body).data)
