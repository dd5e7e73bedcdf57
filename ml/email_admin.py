"""Admin for sales email drafts: per-organisation email settings (API key write-only), catalogue, suppression
list and the drafts themselves. Imported by ml.admin, which Django autodiscovers."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from ml.models import EmailSettings, EmailSuppression, GeneratedEmail, ProductCatalogueEntry
from salesai.core.admin import ORGANIZATION_FILTER, OrganizationScopedAdmin


class EmailSettingsAdminForm(forms.ModelForm):
    """The endpoint's API key is write-only: never put in a form or page; blank keeps the stored one."""

    new_api_key = forms.CharField(
        required=False,
        strip=True,
        # render_value=False: not even a just-submitted key goes back into the page.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="Set new API key",
        help_text="For the OpenAI-compatible endpoint. Stored encrypted and never shown again; leave blank to "
        "keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")

    class Meta:
        model = EmailSettings
        exclude = ("openai_credentials",)


@admin.register(EmailSettings)
class EmailSettingsAdmin(OrganizationScopedAdmin):
    form = EmailSettingsAdminForm
    list_display = (
        "organization",
        "backend",
        "local_model",
        "openai_model",
        "max_attempts",
        "api_key_status",
        "updated_at",
    )
    list_filter = ("backend", ORGANIZATION_FILTER)
    list_select_related = ("organization",)
    readonly_fields = ("api_key_status", "updated_at")
    fields = (
        "organization",
        "backend",
        "local_model",
        "openai_base_url",
        "openai_model",
        "new_api_key",
        "clear_api_key",
        "api_key_status",
        "sender_postal_address",
        "unsubscribe_text",
        "max_attempts",
        "courtesy_phrases",
        "updated_at",
    )

    @admin.display(description="API key")
    def api_key_status(self, email_settings: EmailSettings) -> str:
        return "set" if email_settings.pk and (email_settings.openai_credentials or {}).get("api_key") else "not set"

    def save_model(self, request: HttpRequest, obj: EmailSettings, form: EmailSettingsAdminForm, change: bool) -> None:
        if form.cleaned_data.get("clear_api_key"):
            obj.openai_credentials = {}
        elif form.cleaned_data.get("new_api_key"):
            obj.openai_credentials = {**(obj.openai_credentials or {}), "api_key": form.cleaned_data["new_api_key"]}
        super().save_model(request, obj, form, change)


@admin.register(ProductCatalogueEntry)
class ProductCatalogueEntryAdmin(OrganizationScopedAdmin):
    list_display = ("name", "list_price", "currency", "active", "organization")
    list_filter = ("active", ORGANIZATION_FILTER)
    search_fields = ("name", "description")
    list_select_related = ("organization",)


class EmailSuppressionAdminForm(forms.ModelForm):
    class Meta:
        model = EmailSuppression
        fields = ("organization", "email", "reason")

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()  # matched case-insensitively; stored lower-cased


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(OrganizationScopedAdmin):
    form = EmailSuppressionAdminForm
    list_display = ("email", "reason", "organization", "created_at")
    list_filter = (ORGANIZATION_FILTER,)
    search_fields = ("email", "reason")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"


@admin.register(GeneratedEmail)
class GeneratedEmailAdmin(OrganizationScopedAdmin):
    """Read-only: drafts come from the pipeline and reps act on them in the app or the API."""

    list_display = (
        "id",
        "contact",
        "intent",
        "status",
        "backend",
        "fallback_used",
        "latency_seconds",
        "rep_action",
        "organization",
        "created_at",
    )
    list_filter = ("status", "intent", "rep_action", "backend", "fallback_used", ORGANIZATION_FILTER)
    search_fields = ("subject", "contact__email", "contact__last_name", "error")
    raw_id_fields = ("contact", "deal", "requested_by", "acted_by")
    list_select_related = ("contact", "organization")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
