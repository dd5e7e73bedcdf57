"""CRM connections (managed by admins/managers, readable by reps) and their sync runs."""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create, connection_credentials_check, sync_run_start
from crm_connectors.writeback import writeback_start
from salesai.api.filters import ConnectionFilter, SyncRunFilter
from salesai.api.permissions import MANAGE_DENIED_MESSAGE
from salesai.api.serializers.connectors import (
    CRMConnectionSerializer,
    CRMConnectionUpdateSerializer,
    SyncRunDetailSerializer,
    SyncRunSerializer,
    SyncStartedSerializer,
    SyncStartSerializer,
)
from salesai.api.views.base import OrganizationScopedViewSet
from salesai.core.selectors import membership_can_manage, records_for_user


class ConnectionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    OrganizationScopedViewSet,
):
    filterset_class = ConnectionFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "last_synced_at"]
    ordering = ["name"]
    manage_actions = ("update", "partial_update", "sync", "writeback", "test")

    def get_queryset(self) -> QuerySet[CRMConnection]:
        return records_for_user(user=self.request.user, model=CRMConnection).select_related("organization")

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action in ("update", "partial_update"):
            return CRMConnectionUpdateSerializer
        if self.action == "sync":
            return SyncStartSerializer
        return CRMConnectionSerializer

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = data["organization"]
        if not membership_can_manage(user=request.user, organization_id=organization.id):
            raise PermissionDenied(MANAGE_DENIED_MESSAGE)
        connection = _connection_save(
            organization=organization,
            kind=data["kind"],
            name=data["name"],
            config=data.get("config"),
            credentials=data.get("credentials"),
            sync_interval_minutes=data.get("sync_interval_minutes"),
            actor_id=request.user.id,
        )
        return Response(
            CRMConnectionSerializer(connection, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    def update(self, request: Request, *args: object, **kwargs: object) -> Response:
        connection = self.get_object()
        serializer = self.get_serializer(connection, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # connection_create updates the connection of that name in place; unchanged fields are passed through.
        updated = _connection_save(
            organization=connection.organization,
            kind=connection.kind,
            name=connection.name,
            config=data.get("config", connection.config),
            credentials=data.get("credentials"),
            sync_interval_minutes=data.get("sync_interval_minutes"),
            actor_id=request.user.id,
        )
        return Response(self.get_serializer(updated).data)

    @extend_schema(request=SyncStartSerializer, responses={202: SyncStartedSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, pk: str | None = None) -> Response:
        """Queue a sync of this connection (admins and managers only); poll the sync run for progress."""
        connection = self.get_object()
        serializer = SyncStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = sync_run_start(connection_id=connection.id, full=serializer.validated_data["full"])
        return Response(
            SyncStartedSerializer({"sync_run_id": run.id, "status": run.status}).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def writeback(self, request: Request, pk: str | None = None) -> Response:
        """Queue writing this connection's changed lead scores into its CRM (admins and managers only)."""
        connection = self.get_object()
        try:
            writeback_start(connection_id=connection.id)
        except ConnectorError as exc:
            raise ValidationError({"connection": [str(exc)]}) from exc
        return Response({"connection_id": connection.id, "status": "queued"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Check the stored credentials against the CRM now (admins and managers only):
        `{"ok": true}` or `{"ok": false, "error": "..."}` (the reason, never a credential)."""
        connection = self.get_object()
        check = connection_credentials_check(connection_id=connection.id)
        body = {"ok": True} if check.ok else {"ok": False, "error": check.error}
        return Response(body, status=status.HTTP_200_OK)


def _connection_save(**fields: object) -> CRMConnection:
    """connection_create, with the connector's rejection of the settings (bad config, unknown kind) as a 400."""
    try:
        return connection_create(**fields)
    except ConnectorError as exc:
        raise ValidationError({"config": [str(exc)]}) from exc


class SyncRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    filterset_class = SyncRunFilter
    ordering_fields = ["queued_at", "finished_at"]
    ordering = ["-queued_at"]

    def get_queryset(self) -> QuerySet[SyncRun]:
        return records_for_user(
            user=self.request.user, model=SyncRun, organization_path="connection__organization"
        ).select_related("connection")

    def get_serializer_class(self) -> type[BaseSerializer]:
        return SyncRunDetailSerializer if self.action == "retrieve" else SyncRunSerializer
