"""Serializer fields that resolve references within the caller's organisations only."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from salesai.core.models import Organization
from salesai.core.selectors import organization_for_user_get

UNKNOWN_ORGANIZATION = "Unknown organisation, or you are not a member of it."


@extend_schema_field(OpenApiTypes.STR)
class OrganizationField(serializers.Field):
    """An organisation given by slug or id; read back as its slug. Organisations the caller is not a
    member of are rejected exactly like missing ones, so the error leaks nothing."""

    default_error_messages = {"unknown": UNKNOWN_ORGANIZATION}

    def to_internal_value(self, data: Any) -> Organization:
        if not isinstance(data, (str, int)) or isinstance(data, bool) or str(data).strip() == "":
            self.fail("unknown")
        organization = organization_for_user_get(user=self.context["request"].user, reference=data)
        if organization is None:
            self.fail("unknown")
        return organization

    def to_representation(self, value: Organization) -> str:
        return value.slug


class UserScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A primary key looked up only among rows the caller may see: a foreign tenant's id gets the same
    "does not exist" error as a made-up one. `scoped_queryset(user)` supplies the rows."""

    def __init__(self, *, scoped_queryset: Any, **kwargs: Any) -> None:
        self.scoped_queryset = scoped_queryset
        kwargs.setdefault("queryset", None)
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        return self.scoped_queryset(user=self.context["request"].user)
