"""What every organisation-scoped viewset shares: filters, ordering with nulls last, role checks."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import SearchFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.viewsets import GenericViewSet

from salesai.api.filters import NullsLastOrderingFilter
from salesai.api.permissions import CanManageOrganization


class OrganizationScopedViewSet(GenericViewSet):
    """Subclasses build `get_queryset` from a `*_for_user` selector, so another organisation's row is
    simply absent: lists skip it and detail URLs answer 404."""

    filter_backends = [DjangoFilterBackend, SearchFilter, NullsLastOrderingFilter]
    permission_classes = [IsAuthenticated, CanManageOrganization]
    manage_actions: tuple[str, ...] = ()
