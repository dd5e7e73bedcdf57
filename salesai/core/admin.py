"""Admin for tenancy and CRM records.

`OrganizationScopedAdmin` is the tenant wall for staff: a non-superuser sees and picks only rows of the
organisations they are a member of. Big tables use raw-id widgets (thousands of contacts, tens of
thousands of activities) and only show organisations that actually occur in the filter sidebar.
"""

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from salesai.core.models import Activity, Company, Contact, Deal, Membership, Organization
from salesai.core.selectors import organization_ids_for_user

# Filter sidebar entry listing only organisations present in the (already scoped) changelist.
ORGANIZATION_FILTER = ("organization", admin.RelatedOnlyFieldListFilter)


def _is_organization_owned(model: type) -> bool:
    return any(field.name == "organization" for field in model._meta.get_fields())


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Superusers see everything; other staff only their organisations' rows, in lists, detail pages,
    autocomplete results and the choices of foreign-key fields."""

    # Lookup from the model to its Organization ("pk" for Organization itself).
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in": organization_ids_for_user(user=request.user)})

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> ModelChoiceField:
        if not request.user.is_superuser:
            related = db_field.related_model
            allowed = organization_ids_for_user(user=request.user)
            if related is Organization:
                kwargs["queryset"] = Organization.objects.filter(id__in=allowed)
            elif _is_organization_owned(related):
                kwargs["queryset"] = related._default_manager.filter(organization_id__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", ORGANIZATION_FILTER)
    search_fields = ("user__username", "user__email", "organization__slug", "organization__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "organization")


@admin.register(Company)
class CompanyAdmin(OrganizationScopedAdmin):
    list_display = ("name", "domain", "industry", "country", "employee_count", "organization", "deleted_at")
    list_filter = (ORGANIZATION_FILTER, "industry", "country")
    search_fields = ("name", "domain", "external_id")
    raw_id_fields = ("connection",)
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("organization",)


@admin.register(Contact)
class ContactAdmin(OrganizationScopedAdmin):
    list_display = ("__str__", "email", "company", "lead_source", "lifecycle_stage", "owner_email", "organization",
                    "converted_at")
    list_filter = (ORGANIZATION_FILTER, "lifecycle_stage", "opted_out", "lead_source")
    search_fields = ("first_name", "last_name", "email", "external_id", "company__name")
    raw_id_fields = ("company", "connection")
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("organization", "company")
    date_hierarchy = "remote_created_at"


@admin.register(Deal)
class DealAdmin(OrganizationScopedAdmin):
    list_display = ("name", "company", "contact", "status", "stage", "amount", "currency", "close_date", "organization")
    list_filter = ("status", ORGANIZATION_FILTER, "pipeline")
    search_fields = ("name", "external_id", "company__name")
    raw_id_fields = ("company", "contact", "connection")
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("organization", "company", "contact")
    date_hierarchy = "close_date"


@admin.register(Activity)
class ActivityAdmin(OrganizationScopedAdmin):
    list_display = ("occurred_at", "kind", "direction", "subject", "contact", "company", "organization")
    list_filter = ("kind", "direction", ORGANIZATION_FILTER)
    search_fields = ("subject", "external_id", "contact__email", "contact__last_name")
    raw_id_fields = ("contact", "company", "deal", "connection")
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("organization", "contact", "company")
    date_hierarchy = "occurred_at"
