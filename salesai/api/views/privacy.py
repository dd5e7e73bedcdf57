"""Data-subject requests: `POST /api/v1/privacy/export/` (everything held about a person, as JSON) and
`POST /api/v1/privacy/erase/` (erase them everywhere). Organisation admins only; a person of an organisation
the caller is not a member of (or no such person) is a 404, a member who is not an admin gets a 403."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from salesai.api.serializers.privacy import ErasureReportSerializer, PersonRequestSerializer
from salesai.core.models import Membership, Organization
from salesai.core.selectors import contact_list_for_user, membership_role_get, organization_default_for_user
from salesai.privacy.selectors import PersonNotFound
from salesai.privacy.services import person_data_export, person_erase

ADMIN_ONLY_MESSAGE = "Only admins of this organisation can export or erase a person's data."


class PersonDataViewSet(ViewSet):
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=PersonRequestSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def export(self, request: Request) -> Response:
        """Everything SalesAI holds about the person (contacts, activities, deals, predictions with their
        reasons, feedback, email drafts, score writes, webhook payloads and sync errors naming them)."""
        organization, data = self._parsed(request)
        try:
            body = person_data_export(
                organization_id=organization.pk,
                email=data.get("email"),
                contact_id=data.get("contact"),
                actor_id=request.user.id,
            )
        except PersonNotFound as exc:
            raise NotFound() from exc
        return Response(body)

    @extend_schema(request=PersonRequestSerializer, responses={200: ErasureReportSerializer})
    @action(detail=False, methods=["post"])
    def erase(self, request: Request) -> Response:
        """Erase the person everywhere and keep the CRM sync from importing them again; returns what was
        removed, per table."""
        organization, data = self._parsed(request)
        try:
            report = person_erase(
                organization_id=organization.pk,
                email=data.get("email"),
                contact_id=data.get("contact"),
                actor_id=request.user.id,
            )
        except PersonNotFound as exc:
            raise NotFound() from exc
        return Response(ErasureReportSerializer(asdict(report)).data, status=status.HTTP_200_OK)

    def _parsed(self, request: Request) -> tuple[Organization, dict]:
        serializer = PersonRequestSerializer(data=request.data, context={"request": request})
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError as exc:
            if "organization" in exc.detail:  # another tenant's organisation: as absent as its people
                raise NotFound() from exc
            raise
        data = serializer.validated_data
        organization = data.get("organization")
        if organization is None and data.get("contact"):
            contact = contact_list_for_user(user=request.user, include_deleted=True).filter(pk=data["contact"]).first()
            if contact is None:
                raise NotFound()
            organization = contact.organization
        organization = organization or organization_default_for_user(user=request.user)
        if organization is None:
            raise ValidationError({"organization": ["Name the organisation: you belong to several."]})
        if membership_role_get(user=request.user, organization_id=organization.pk) != Membership.Role.ADMIN:
            raise PermissionDenied(ADMIN_ONLY_MESSAGE)
        return organization, data
