"""Predictions (read-only), reps' feedback, and model versions with promotion and rollback."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from ml.feedback_services import feedback_create
from ml.model_versions import model_version_promote, model_version_rollback
from ml.models import Feedback, ModelVersion, Prediction
from ml.selectors import feedback_list_for_user, model_version_list_for_user, prediction_list_for_user
from salesai.api.filters import FeedbackFilter, ModelVersionFilter, PredictionFilter
from salesai.api.permissions import MANAGE_DENIED_MESSAGE
from salesai.api.serializers.ml import (
    FeedbackSerializer,
    ModelVersionRollbackSerializer,
    ModelVersionSerializer,
    PredictionSerializer,
)
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.selectors import membership_can_manage


class PredictionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter
    ordering_fields = ["created_at", "score", "probability"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[Prediction]:
        return prediction_list_for_user(user=self.request.user)


class FeedbackViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrganizationScopedViewSet
):
    """Any member may judge a prediction of their organisation; the feedback is recorded as theirs."""

    serializer_class = FeedbackSerializer
    filterset_class = FeedbackFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[Feedback]:
        return feedback_list_for_user(user=self.request.user)

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        feedback = feedback_create(
            prediction_id=data["prediction"].id,
            user_id=request.user.id,
            verdict=data["verdict"],
            override_value=data.get("override_value"),
            reason=data.get("reason", ""),
        )
        return Response(self.get_serializer(feedback).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilter
    ordering_fields = ["created_at", "version", "promoted_at"]
    ordering = ["-created_at"]
    manage_actions = ("promote",)

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return model_version_list_for_user(user=self.request.user)

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        """Make this version the champion for its task (admins and managers only)."""
        model_version = self.get_object()
        promoted = model_version_promote(model_version_id=model_version.id, actor_id=request.user.id)
        return Response(self.get_serializer(promoted).data)

    @extend_schema(request=ModelVersionRollbackSerializer, responses={200: ModelVersionSerializer})
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request) -> Response:
        """Make the previous champion of an organisation's task the champion again (admins and managers
        only); 400 when there is no previous champion."""
        serializer = ModelVersionRollbackSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organization = serializer.validated_data["organization"]
        if not membership_can_manage(user=request.user, organization_id=organization.id):
            raise PermissionDenied(MANAGE_DENIED_MESSAGE)
        restored = model_version_rollback(
            organization_id=organization.id, task=serializer.validated_data["task"], actor_id=request.user.id
        )
        return Response(self.get_serializer(restored).data)
