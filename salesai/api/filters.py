"""Query-string filters for the API list endpoints, and ordering that keeps empty values last."""

from datetime import UTC, timedelta
from typing import Any, ClassVar

import django_filters
from django import forms
from django.db.models import F, OrderBy, QuerySet
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request

from crm_connectors.models import CRMConnection, SyncRun
from ml.models import Feedback, ModelVersion, Prediction, Task
from salesai.core.models import Activity, Company, Contact, Deal


class NullsLastOrderingFilter(OrderingFilter):
    """`?ordering=-current_score` puts unscored rows after scored ones in both directions; the primary
    key breaks ties so pages never overlap."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        expressions: list[OrderBy] = []
        for term in ordering:
            descending = term.startswith("-")
            field = F(term.lstrip("-"))
            expressions.append(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True))
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            expressions.append(F("pk").asc())
        return queryset.order_by(*expressions)


# Real time zones lie between UTC-12 and UTC+14; PostgreSQL refuses offsets past 15:59 (a 500 before).
MAX_UTC_OFFSET = timedelta(hours=14)


class UTCIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time with a real UTC offset, handed to the database in UTC."""

    default_error_messages: ClassVar[dict[str, str]] = {"offset": "The UTC offset must lie between -14:00 and +14:00."}

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        if abs(parsed.utcoffset()) > MAX_UTC_OFFSET:
            raise forms.ValidationError(self.error_messages["offset"], code="offset")
        return parsed.astimezone(UTC)


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class OrganizationFilterSet(django_filters.FilterSet):
    """Multi-organisation users narrow lists to one of their organisations with `?organization=<slug>`."""

    organization = django_filters.CharFilter(field_name="organization__slug", label="Organisation slug")


class CompanyFilter(OrganizationFilterSet):
    industry = django_filters.CharFilter(lookup_expr="iexact")
    country = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Company
        fields = ["organization", "industry", "country"]


# ContactFilter's query parameters that read the current score (the rest filter the contact row alone).
SCORE_FILTERS = frozenset({"has_score", "min_score"})


class ContactFilter(OrganizationFilterSet):
    company = django_filters.NumberFilter(field_name="company_id", label="Company id")
    lifecycle_stage = django_filters.ChoiceFilter(choices=Contact.LifecycleStage.choices)
    lead_source = django_filters.CharFilter(lookup_expr="iexact")
    owner_email = django_filters.CharFilter(lookup_expr="iexact")
    has_score = django_filters.BooleanFilter(method="filter_has_score", label="Has a current score")
    min_score = django_filters.NumberFilter(
        field_name="current_score", lookup_expr="gte", label="Current score at least (0-100)"
    )

    class Meta:
        model = Contact
        fields = ["organization", "company", "lifecycle_stage", "lead_source", "owner_email"]

    def filter_has_score(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(current_score__isnull=not value)


class DealFilter(OrganizationFilterSet):
    company = django_filters.NumberFilter(field_name="company_id", label="Company id")
    contact = django_filters.NumberFilter(field_name="contact_id", label="Contact id")
    status = django_filters.ChoiceFilter(choices=Deal.Status.choices)
    stage = django_filters.CharFilter(lookup_expr="iexact")
    pipeline = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Deal
        fields = ["organization", "company", "contact", "status", "stage", "pipeline"]


class ActivityFilter(OrganizationFilterSet):
    contact = django_filters.NumberFilter(field_name="contact_id", label="Contact id")
    company = django_filters.NumberFilter(field_name="company_id", label="Company id")
    deal = django_filters.NumberFilter(field_name="deal_id", label="Deal id")
    kind = django_filters.ChoiceFilter(choices=Activity.Kind.choices)
    occurred_after = UTCIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UTCIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Activity
        fields = ["organization", "contact", "company", "deal", "kind"]


class PredictionFilter(OrganizationFilterSet):
    contact = django_filters.NumberFilter(field_name="contact_id", label="Contact id")
    company = django_filters.NumberFilter(field_name="company_id", label="Company id")
    model_version = django_filters.NumberFilter(field_name="model_version_id", label="Model version id")
    task = django_filters.ChoiceFilter(choices=Task.choices)
    is_current = django_filters.BooleanFilter()

    class Meta:
        model = Prediction
        fields = ["organization", "contact", "company", "model_version", "task", "is_current"]


class FeedbackFilter(OrganizationFilterSet):
    prediction = django_filters.NumberFilter(field_name="prediction_id", label="Prediction id")
    contact = django_filters.NumberFilter(field_name="prediction__contact_id", label="Contact id")
    verdict = django_filters.ChoiceFilter(choices=Feedback.Verdict.choices)

    class Meta:
        model = Feedback
        fields = ["organization", "prediction", "contact", "verdict"]


class ConnectionFilter(OrganizationFilterSet):
    kind = django_filters.CharFilter()
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = CRMConnection
        fields = ["organization", "kind", "is_active"]


class SyncRunFilter(django_filters.FilterSet):
    organization = django_filters.CharFilter(field_name="connection__organization__slug", label="Organisation slug")
    connection = django_filters.NumberFilter(field_name="connection_id", label="Connection id")
    status = django_filters.ChoiceFilter(choices=SyncRun.Status.choices)
    mode = django_filters.ChoiceFilter(choices=SyncRun.Mode.choices)

    class Meta:
        model = SyncRun
        fields = ["organization", "connection", "status", "mode"]


class ModelVersionFilter(OrganizationFilterSet):
    task = django_filters.ChoiceFilter(choices=Task.choices)
    status = django_filters.ChoiceFilter(choices=ModelVersion.Status.choices)

    class Meta:
        model = ModelVersion
        fields = ["organization", "task", "status"]
