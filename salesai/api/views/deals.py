"""/api/v1/deals/: deals with their current win probability, expected close, win-by-month and reasons."""

from django.db.models import QuerySet
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.serializers import BaseSerializer

from salesai.api.filters import DealFilter
from salesai.api.serializers.deals import DealDetailSerializer, DealWithWinSerializer
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.models import Deal
from salesai.core.selectors import deal_list_for_user
from salesai.dashboard.deal_selectors import deals_slipping_filter, deals_with_history, deals_with_win_probability


def _strict_boolean(label: str, method: str) -> django_filters.TypedChoiceFilter:
    """true / false, and anything else a 400 (django-filter's BooleanFilter ignores what it cannot read)."""
    return django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", method=method, label=label
    )


class DealWinFilter(DealFilter):
    owner = django_filters.CharFilter(field_name="owner_email", lookup_expr="iexact", label="Owner email")
    has_score = _strict_boolean("Has a current win probability", "filter_has_score")
    min_win_probability = django_filters.NumberFilter(
        field_name="win_probability", lookup_expr="gte", min_value=0, max_value=1, label="Win probability at least"
    )
    close_date_after = django_filters.DateFilter(field_name="close_date", lookup_expr="gte")
    close_date_before = django_filters.DateFilter(field_name="close_date", lookup_expr="lte")
    slipping = _strict_boolean("Open, and the close date passed or was pushed at least twice", "filter_slipping")

    class Meta(DealFilter.Meta):
        fields = [*DealFilter.Meta.fields, "owner"]

    def filter_has_score(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(win_probability__isnull=not value)

    def filter_slipping(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        slipping = deals_slipping_filter(queryset=queryset)
        return slipping if value else queryset.exclude(pk__in=slipping.values("pk"))


@extend_schema_view(
    list=extend_schema(
        tags=["deals"],
        summary="Deals with their current win probability",
        description="`?ordering=-win_probability` ranks the deals most likely to be won first (unscored last). "
        "Filters: owner, pipeline, stage, status, slipping, min_win_probability, close_date_after/before.",
    ),
    retrieve=extend_schema(
        tags=["deals"],
        summary="One deal: win probability, expected close, win-by-month, reasons and its change history",
    ),
)
class DealViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    filterset_class = DealWinFilter
    search_fields = ["name", "company__name"]
    ordering_fields = [
        "name",
        "amount",
        "amount_base",
        "close_date",
        "created_at",
        "updated_at",
        "remote_updated_at",
        "win_probability",
        "win_score",
        "expected_close",
        "close_date_pushes",
    ]
    ordering = ["-close_date", "name"]

    def get_queryset(self) -> QuerySet[Deal]:
        deals = deals_with_win_probability(queryset=deal_list_for_user(user=self.request.user))
        return deals_with_history(queryset=deals) if self.action == "retrieve" else deals

    def get_serializer_class(self) -> type[BaseSerializer]:
        return DealDetailSerializer if self.action == "retrieve" else DealWithWinSerializer
