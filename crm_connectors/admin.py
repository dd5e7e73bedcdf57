"""Admin for connections, sync runs and webhook events.

Credentials are write-only here: the stored value is never put in a form or a page; a "set new
credentials" field replaces it, and leaving that field blank keeps what is stored.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection, SyncRun, UnroutedWebhookEvent, WebhookEvent
from crm_connectors.registry import connector_names
from crm_connectors.services import connection_change_audit, connection_config_validate, sync_run_start
from salesai.core.admin import ORGANIZATION_FILTER, OrganizationScopedAdmin
from salesai.core.selectors import membership_can_manage


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value, not even the one just submitted, like a password input."""

    def format_value(self, value: Any) -> str:
        return ""


class CRMConnectionAdminForm(forms.ModelForm):
    new_credentials = forms.JSONField(
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        label="Set new credentials",
        help_text='A JSON object, e.g. {"access_token": "..."}. Stored encrypted and never shown again; '
        "leave blank to keep the current credentials.",
    )

    class Meta:
        model = CRMConnection
        exclude = ("credentials",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The registry is filled at app start-up, so the choices are read here, not at import time.
        kinds = connector_names()
        current = getattr(self.instance, "kind", "")
        if current and current not in kinds:
            kinds = [*kinds, current]  # keep a connection whose connector was removed editable
        self.fields["kind"] = forms.ChoiceField(choices=[(kind, kind) for kind in kinds], initial=current)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization, kind = cleaned.get("organization"), cleaned.get("kind")
        if organization is not None and kind and "config" in cleaned:
            try:  # the same check the API's connection_create makes: e.g. CSV folders stay in the organisation's
                connection_config_validate(organization=organization, kind=kind, config=cleaned["config"])
            except ConnectorError as exc:
                self.add_error("config", str(exc))
        return cleaned

    def clean_new_credentials(self) -> dict | None:
        value = self.cleaned_data.get("new_credentials")
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict):
            raise ValidationError("Credentials must be a JSON object.")
        return value


def _can_manage(request: HttpRequest, organization_id: int) -> bool:
    return request.user.is_superuser or membership_can_manage(user=request.user, organization_id=organization_id)


@admin.register(CRMConnection)
class CRMConnectionAdmin(OrganizationScopedAdmin):
    form = CRMConnectionAdminForm
    list_display = (
        "name",
        "kind",
        "organization",
        "is_active",
        "sync_interval_minutes",
        "last_synced_at",
        "credentials_status",
    )
    list_filter = ("kind", "is_active", ORGANIZATION_FILTER)
    search_fields = ("name", "organization__slug")
    list_select_related = ("organization",)
    readonly_fields = ("credentials_status", "last_synced_at", "created_at")
    fields = (
        "organization",
        "kind",
        "name",
        "config",
        "new_credentials",
        "credentials_status",
        "is_active",
        "sync_interval_minutes",
        "cursor",
        "last_synced_at",
        "created_at",
    )
    actions = ["sync_now", "full_sync_now"]

    @admin.display(description="Credentials")
    def credentials_status(self, connection: CRMConnection) -> str:
        return "set" if connection.pk and connection.credentials else "not set"

    def save_model(self, request: HttpRequest, obj: CRMConnection, form: CRMConnectionAdminForm, change: bool) -> None:
        new_credentials = form.cleaned_data.get("new_credentials")
        if new_credentials is not None:
            obj.credentials = new_credentials
        super().save_model(request, obj, form, change)
        connection_change_audit(
            connection=obj,
            actor_id=request.user.id,
            created=not change,
            credentials_replaced=new_credentials is not None,
            fields=[name for name in form.changed_data if name != "new_credentials"],
        )

    def _start_syncs(self, request: HttpRequest, queryset: QuerySet[CRMConnection], *, full: bool) -> None:
        started, refused = 0, []
        for connection in queryset:
            if not _can_manage(request, connection.organization_id):
                refused.append(f"{connection.name}: only admins and managers of its organisation can sync it")
                continue
            try:
                sync_run_start(connection_id=connection.id, full=full)
            except ValidationError as exc:
                refused.append(f"{connection.name}: {' '.join(exc.messages)}")
            else:
                started += 1
        if started:
            self.message_user(request, f"Queued {started} sync(s).", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Sync now (changes since last sync)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[CRMConnection]) -> None:
        self._start_syncs(request, queryset, full=False)

    @admin.action(description="Full sync now (re-read everything)")
    def full_sync_now(self, request: HttpRequest, queryset: QuerySet[CRMConnection]) -> None:
        self._start_syncs(request, queryset, full=True)


class ReadOnlyRecordAdmin(OrganizationScopedAdmin):
    """Rows the system writes (runs, events): inspect and delete, never hand-edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyRecordAdmin):
    organization_path = "connection__organization"
    list_display = (
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
        "queued_at",
        "finished_at",
    )
    list_filter = ("status", "mode", ("connection", admin.RelatedOnlyFieldListFilter))
    search_fields = ("connection__name", "error_summary")
    list_select_related = ("connection",)
    date_hierarchy = "queued_at"

    @admin.display(description="Errors")
    def error_count(self, run: SyncRun) -> int:
        return len(run.errors or [])


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyRecordAdmin):
    organization_path = "connection__organization"
    list_display = ("event_id", "connection", "status", "attempts", "received_at", "processed_at")
    list_filter = ("status", ("connection", admin.RelatedOnlyFieldListFilter))
    search_fields = ("event_id", "error")
    list_select_related = ("connection",)
    # Request headers may carry the CRM's auth/signature values: kept for replay, not displayed.
    exclude = ("headers",)
    date_hierarchy = "received_at"


@admin.register(UnroutedWebhookEvent)
class UnroutedWebhookEventAdmin(admin.ModelAdmin):
    """App-level deliveries for accounts without a connection: they belong to no organisation, so only
    superusers see them (to connect the account, or to find a stale app install)."""

    list_display = ("kind", "app_id", "account_id", "event_id", "received_at")
    list_filter = ("kind", "app_id")
    search_fields = ("account_id", "event_id")
    date_hierarchy = "received_at"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser
