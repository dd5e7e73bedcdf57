"""Read-only endpoints for CRM records (written by syncs, not by API clients); deals are in views/deals.py."""

from functools import cached_property

from django.db.models import QuerySet
from rest_framework import mixins
from rest_framework.serializers import BaseSerializer

from ml.churn_selectors import companies_with_churn_prediction, companies_with_churn_risk
from ml.selectors import contacts_with_current_prediction, contacts_with_current_score
from salesai.api.filters import SCORE_FILTERS, ActivityFilter, CompanyFilter, ContactFilter
from salesai.api.pagination import CheaperCountPagination
from salesai.api.serializers.core import (
    ActivitySerializer,
    CompanyDetailSerializer,
    CompanySerializer,
    ContactDetailSerializer,
    ContactSerializer,
)
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.models import Activity, Company, Contact
from salesai.core.selectors import (
    activity_list_for_user,
    company_list_for_user,
    contact_list_for_user,
)


class ReadOnlyScopedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    pass


class CompanyViewSet(ReadOnlyScopedViewSet):
    """Companies with their current churn risk; `?ordering=-churn_risk` ranks accounts most at risk first
    (unscored companies last)."""

    filterset_class = CompanyFilter
    search_fields = ["name", "domain"]
    ordering_fields = [
        "name",
        "employee_count",
        "annual_revenue",
        "created_at",
        "updated_at",
        "remote_updated_at",
        "churn_risk",
        "churn_score",
    ]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Company]:
        companies = company_list_for_user(user=self.request.user)
        if self.action == "retrieve":
            return companies_with_churn_prediction(queryset=companies)
        return companies_with_churn_risk(queryset=companies)

    def get_serializer_class(self) -> type[BaseSerializer]:
        return CompanyDetailSerializer if self.action == "retrieve" else CompanySerializer


class ContactViewSet(ReadOnlyScopedViewSet):
    """Contacts with their current lead-conversion score; `?ordering=-current_score` ranks leads
    (unscored contacts last)."""

    filterset_class = ContactFilter
    search_fields = ["first_name", "last_name", "email", "company__name"]
    ordering_fields = [
        "last_name",
        "first_name",
        "email",
        "created_at",
        "updated_at",
        "remote_created_at",
        "remote_updated_at",
        "current_score",
        "current_probability",
    ]
    ordering = ["last_name", "first_name"]
    pagination_class = CheaperCountPagination

    @cached_property
    def _contacts(self) -> QuerySet[Contact]:
        # Built once per request: the page and its count share the user's organisations (one query).
        return contact_list_for_user(user=self.request.user)

    def get_queryset(self) -> QuerySet[Contact]:
        if self.action == "retrieve":
            return contacts_with_current_prediction(queryset=self._contacts)
        return contacts_with_current_score(queryset=self._contacts)

    def pagination_count_queryset(self) -> QuerySet[Contact] | None:
        """The listed rows without the score join (a contact has at most one current score, so the count is
        the same and PostgreSQL skips joining every contact's prediction); None when a score filter needs it."""
        if SCORE_FILTERS & self.request.query_params.keys():
            return None
        return self.filter_queryset(self._contacts)

    def get_serializer_class(self) -> type[BaseSerializer]:
        return ContactDetailSerializer if self.action == "retrieve" else ContactSerializer


class ActivityViewSet(ReadOnlyScopedViewSet):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    search_fields = ["subject", "body"]
    ordering_fields = ["occurred_at", "created_at", "updated_at"]
    ordering = ["-occurred_at"]

    def get_queryset(self) -> QuerySet[Activity]:
        return activity_list_for_user(user=self.request.user)
