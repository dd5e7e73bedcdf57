"""Role checks on top of organisation scoping (querysets already hide other tenants' rows)."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from salesai.core.selectors import membership_can_manage

MANAGE_DENIED_MESSAGE = "Only admins and managers of this organisation can do this."


class CanManageOrganization(BasePermission):
    """Actions named in the view's `manage_actions` need an admin or manager role in the object's
    organisation; reps may still read. Creation is checked by the view once the organisation is parsed."""

    message = MANAGE_DENIED_MESSAGE

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if getattr(view, "action", None) not in getattr(view, "manage_actions", ()):
            return True
        return membership_can_manage(user=request.user, organization_id=obj.organization_id)
