"""Shapes of CRM connections and sync runs. Credentials go in, never out."""

from typing import Any

from rest_framework import serializers

from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.registry import connector_names
from crm_connectors.selectors import connection_list
from salesai.api.fields import OrganizationField
from salesai.core.selectors import organization_default_for_user, organizations_for_user


class CRMConnectionSerializer(serializers.ModelSerializer):
    organization = OrganizationField(
        required=False, help_text="Slug or id; defaults to your organisation when you belong to exactly one."
    )
    credentials = serializers.DictField(
        write_only=True, required=False, help_text="Tokens/passwords: stored encrypted, never returned."
    )
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = CRMConnection
        fields = [
            "id",
            "organization",
            "kind",
            "name",
            "config",
            "credentials",
            "has_credentials",
            "is_active",
            "sync_interval_minutes",
            "last_synced_at",
            "created_at",
        ]
        read_only_fields = ["id", "has_credentials", "last_synced_at", "created_at"]
        # Name uniqueness within the organisation is checked in validate(), after the organisation defaults.
        validators: list = []

    def get_has_credentials(self, connection: CRMConnection) -> bool:
        return bool(connection.credentials)

    def validate_kind(self, kind: str) -> str:
        known = connector_names()
        if kind not in known:
            raise serializers.ValidationError(f"Unknown connector {kind!r}; known: {', '.join(known) or 'none'}.")
        return kind

    def validate_config(self, config: Any) -> dict:
        if not isinstance(config, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return config

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "organization" not in attrs:
            user = self.context["request"].user
            organization = organization_default_for_user(user=user)
            if organization is None:
                several = organizations_for_user(user=user).exists()
                raise serializers.ValidationError(
                    {
                        "organization": "Required: you belong to several organisations."
                        if several
                        else "You are not a member of any organisation."
                    }
                )
            attrs["organization"] = organization
        if (
            self.instance is None
            and connection_list(organization=attrs["organization"]).filter(name=attrs["name"]).exists()
        ):
            raise serializers.ValidationError({"name": "This organisation already has a connection with this name."})
        return attrs


class CRMConnectionUpdateSerializer(CRMConnectionSerializer):
    """What may change on an existing connection: its config, credentials and sync interval. Organisation,
    kind and name identify it; `is_active` is read-only here until a connection_update service exists."""

    organization = OrganizationField(read_only=True)

    class Meta(CRMConnectionSerializer.Meta):
        read_only_fields = [*CRMConnectionSerializer.Meta.read_only_fields, "organization", "kind", "name", "is_active"]


class SyncRunSerializer(serializers.ModelSerializer):
    error_count = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "connection",
            "mode",
            "status",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "failed",
            "error_count",
            "error_summary",
            "queued_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_error_count(self, run: SyncRun) -> int:
        return len(run.errors or [])


class SyncRunDetailSerializer(SyncRunSerializer):
    """Adds the row-level errors (object, line, column, reason) and the cursors."""

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "errors", "cursor_before", "cursor_after"]
        read_only_fields = fields


class SyncStartSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False, help_text="Re-read everything instead of changes since the cursor.")


class SyncStartedSerializer(serializers.Serializer):
    sync_run_id = serializers.IntegerField()
    status = serializers.CharField()
