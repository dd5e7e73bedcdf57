"""Sales email drafts: request one (202, generated on the gpu queue), read it, accept / edit / reject it.

Any member may request and review drafts of their organisations' contacts. A contact the caller cannot see
is a 404; a contact that must not be emailed (opted out, suppressed, no address) is a 409 whose `code` says
which; acting on a draft that is not ready or was already reviewed is a 409 too.
"""

from collections.abc import Callable

import django_filters
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ml.email_selectors import generated_emails_for_user
from ml.email_services import (
    EmailDraftConflict,
    EmailEditUnverified,
    EmailRefused,
    email_draft_accept,
    email_draft_edit,
    email_draft_reject,
    email_draft_request,
)
from ml.models import EmailIntent, GeneratedEmail
from salesai.api.filters import OrganizationFilterSet
from salesai.api.serializers.emails import (
    EmailEditSerializer,
    EmailQueuedSerializer,
    EmailRejectSerializer,
    EmailRequestSerializer,
    GeneratedEmailSerializer,
)
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.models import Contact
from salesai.core.selectors import contact_list_for_user

ERROR_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description='{"error": {"code": "...", "message": "..."}}')
UNVERIFIED_RESPONSE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='{"error": {"code": "unverified", "message": "...", "issues": [{"sentence", "code", "text", '
    '"message"}]}}: resend with "own_words": true to send it anyway',
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class GeneratedEmailFilter(OrganizationFilterSet):
    status = django_filters.ChoiceFilter(choices=GeneratedEmail.Status.choices)
    contact = django_filters.NumberFilter(field_name="contact_id", label="Contact id")
    intent = django_filters.ChoiceFilter(choices=EmailIntent.choices)
    rep_action = django_filters.ChoiceFilter(
        choices=[*GeneratedEmail.RepAction.choices, ("none", "Not reviewed yet")], method="filter_rep_action"
    )

    class Meta:
        model = GeneratedEmail
        fields = ["organization", "status", "contact", "intent", "rep_action"]

    def filter_rep_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(rep_action="" if value == "none" else value)


class GeneratedEmailViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = GeneratedEmailSerializer
    filterset_class = GeneratedEmailFilter
    search_fields = ["subject", "contact__email", "contact__last_name"]
    ordering_fields = ["created_at", "finished_at", "latency_seconds"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[GeneratedEmail]:
        return generated_emails_for_user(user=self.request.user)

    @extend_schema(
        request=EmailRequestSerializer,
        responses={202: EmailQueuedSerializer, 400: ERROR_RESPONSE, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    def create(self, request: Request) -> Response:
        """Queue a draft for a contact; poll `url`. 409 with code opted_out / suppressed / no_email_address
        when the contact must not be emailed."""
        serializer = EmailRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact = contact_list_for_user(user=request.user).filter(pk=data["contact"]).first()
        if contact is None:
            raise NotFound()
        try:
            email = email_draft_request(
                organization_id=contact.organization_id,
                contact_id=contact.id,
                intent=data["intent"],
                options=dict(data.get("options") or {}),
                deal_id=data.get("deal"),
                requested_by_id=request.user.id,
            )
        except EmailRefused as exc:
            raise Conflict(detail=exc.message, code=exc.code) from exc
        except Contact.DoesNotExist as exc:
            raise NotFound() from exc
        url = request.build_absolute_uri(reverse("api:email-detail", args=[email.id]))
        body = EmailQueuedSerializer({"id": email.id, "status": email.status, "url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})

    @extend_schema(request=None, responses={200: GeneratedEmailSerializer, 409: ERROR_RESPONSE})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Take the draft as it is: its text becomes the final text."""
        email = self.get_object()
        return self._acted(lambda: email_draft_accept(email_id=email.id, user_id=request.user.id))

    @extend_schema(
        request=EmailEditSerializer,
        responses={
            200: GeneratedEmailSerializer,
            400: ERROR_RESPONSE,
            409: ERROR_RESPONSE,
            422: UNVERIFIED_RESPONSE,
        },
    )
    @action(detail=True, methods=["post"])
    def edit(self, request: Request, pk: str | None = None) -> Response:
        """Save the rep's own final subject and body, re-checked by the draft verifier; the diff against the
        draft is kept. What the verifier cannot ground is a 422 listing each sentence, unless `own_words`."""
        email = self.get_object()
        serializer = EmailEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            return self._acted(
                lambda: email_draft_edit(email_id=email.id, user_id=request.user.id, **serializer.validated_data)
            )
        except EmailEditUnverified as exc:
            body = {"code": "unverified", "message": exc.message, "issues": exc.issues}
            return Response({"error": body}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)

    @extend_schema(
        request=EmailRejectSerializer,
        responses={200: GeneratedEmailSerializer, 400: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Discard the draft, saying why."""
        email = self.get_object()
        serializer = EmailRejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._acted(
            lambda: email_draft_reject(
                email_id=email.id, user_id=request.user.id, reason=serializer.validated_data["reason"]
            )
        )

    def _acted(self, act: Callable[[], GeneratedEmail]) -> Response:
        # Field errors stay 400s (the standard handler); state conflicts become 409s.
        try:
            email = act()
        except EmailDraftConflict as exc:
            raise Conflict(detail=exc.message) from exc
        return Response(self.get_serializer(email).data)
