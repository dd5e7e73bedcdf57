"""Admin for tenancy and CRM records.

`OrganizationScopedAdmin` is the tenant wall for staff: a non-superuser sees and picks only rows of the
organisations they are a member of, everywhere the admin touches another row: changelists and change pages,
the choices of foreign-key and many-to-many fields, raw-id labels (`?contact=<id>` on an add page, a form
re-rendered after a validation error), autocomplete and the raw-id lookup popups (the related model's own
scoped admin answers them). A foreign id is treated as absent. Every admin of the project's apps derives
from it (or from `OrganizationScopedInline`); `TenantUserAdmin` scopes the accounts the same way. Big tables
use raw-id widgets and only show organisations that actually occur in the filter sidebar.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Field, ForeignKey, ManyToManyField, Model, QuerySet
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest

from salesai.core.models import (
    Activity,
    AuditLogEntry,
    Company,
    Contact,
    CurrencyRate,
    Deal,
    DealHistory,
    ErasedPerson,
    Membership,
    Organization,
    OwnerTeam,
    PipelineStage,
)
from salesai.core.selectors import (
    organization_ids_administered_by,
    organization_ids_for_user,
    user_manageable_by,
    users_visible_to,
)

# Filter sidebar entry listing only organisations present in the (already scoped) changelist.
ORGANIZATION_FILTER = ("organization", admin.RelatedOnlyFieldListFilter)


def _is_organization_owned(model: type) -> bool:
    return any(field.name == "organization" for field in model._meta.get_fields())


def _choices_for(admin_site: admin.AdminSite, model: type[Model], request: HttpRequest) -> QuerySet:
    """The rows of `model` a non-superuser may pick or see named: what the model's own admin lets them see,
    so one definition of "theirs" serves lists, choices, labels and lookups. Unknown models: nothing."""
    related_admin = admin_site._registry.get(model)
    if getattr(related_admin, "tenant_scoped", False):
        return related_admin.get_queryset(request)
    allowed = organization_ids_for_user(user=request.user)
    if model is Organization:
        return Organization.objects.filter(id__in=allowed)
    if _is_organization_owned(model):
        return model._default_manager.filter(organization_id__in=allowed)
    return model._default_manager.none()  # fail closed: a relation nobody scoped shows nothing


class ScopedForeignKeyRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id input that names the chosen row only when it is among `queryset`: a foreign id typed into
    the URL or a re-rendered form stays a bare number, as if no such row existed."""

    def __init__(self, rel: Any, admin_site: admin.AdminSite, *, queryset: QuerySet, **kwargs: Any) -> None:
        super().__init__(rel, admin_site, **kwargs)
        self.queryset = queryset

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            visible = self.queryset.filter(**{key: value}).exists()
        except (ValueError, TypeError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value) if visible else ("", "")


class OrganizationScopedFormsMixin:
    """Scopes every relation field of a (model or inline) admin's forms for non-superusers."""

    admin_site: admin.AdminSite
    raw_id_fields: Any

    def get_field_queryset(self, db: str | None, db_field: Field, request: HttpRequest) -> QuerySet | None:
        if request.user.is_superuser:
            return super().get_field_queryset(db, db_field, request)
        return _choices_for(self.admin_site, db_field.remote_field.model, request)

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> ModelChoiceField:
        if not request.user.is_superuser and "queryset" not in kwargs:
            kwargs["queryset"] = self.get_field_queryset(kwargs.get("using"), db_field, request)
            if db_field.name in self.raw_id_fields and "widget" not in kwargs:
                kwargs["widget"] = ScopedForeignKeyRawIdWidget(
                    db_field.remote_field, self.admin_site, queryset=kwargs["queryset"], using=kwargs.get("using")
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:
        if not request.user.is_superuser and "queryset" not in kwargs:
            kwargs["queryset"] = self.get_field_queryset(kwargs.get("using"), db_field, request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrganizationScopedAdmin(OrganizationScopedFormsMixin, admin.ModelAdmin):
    """Superusers see everything; other staff only their organisations' rows, in lists, detail pages,
    autocomplete results, raw-id labels and the choices of relation fields."""

    tenant_scoped = True
    # Lookup from the model to its Organization ("pk" for Organization itself).
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in": organization_ids_for_user(user=request.user)})

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """`?contact=<id>` pre-fills an add form: a row the user may not see is dropped, not shown."""
        initial = super().get_changeform_initial_data(request)
        if request.user.is_superuser:
            return initial
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if not field.is_relation or field.remote_field is None:
                continue
            ids = value if isinstance(value, list) else [value]
            key = field.target_field.name if field.many_to_one or field.one_to_one else "pk"
            choices = _choices_for(self.admin_site, field.remote_field.model, request)
            try:
                visible = choices.filter(**{f"{key}__in": ids}).count() == len(set(ids))
            except (ValueError, TypeError, ValidationError):
                visible = False
            if not visible:
                del initial[name]
        return initial


class OrganizationScopedInline(OrganizationScopedFormsMixin, admin.TabularInline):
    """An inline's relation fields are scoped like its parent admin's (its rows already belong to the parent)."""


class MembershipInline(OrganizationScopedInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


def _administers(request: HttpRequest, organization_id: int | None) -> bool:
    return request.user.is_superuser or organization_id in organization_ids_administered_by(user=request.user)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = "pk"
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new tenant is created by the operator (org_create), not by another tenant's staff.
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _administers(request, obj.pk))

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    """Only an organisation's admins (and superusers) change who belongs to it and with which role."""

    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", ORGANIZATION_FILTER)
    search_fields = ("user__username", "user__email", "organization__slug", "organization__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "organization")

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _administers(request, obj.organization_id))

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or _administers(request, obj.organization_id))

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not _administers(request, obj.organization_id):
            raise PermissionDenied("Only the organisation's admins can change its members.")
        super().save_model(request, obj, form, change)


User = get_user_model()


class TenantUserAdmin(UserAdmin):
    """Accounts, scoped: staff without superuser status see members of their organisations only, change only
    people who belong to no organisation but ones they administer, and can never grant superuser status,
    groups or permissions (not even to themselves): those are the operator's."""

    tenant_scoped = True
    PRIVILEGED_FIELDS = ("is_superuser", "groups", "user_permissions", "last_login", "date_joined")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if request.user.is_superuser:
            return super().get_queryset(request)
        return super().get_queryset(request).filter(pk__in=users_visible_to(user=request.user).values("pk"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else (*readonly, *self.PRIVILEGED_FIELDS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new account belongs to no organisation yet, so only the operator may create one.
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or user_manageable_by(editor=request.user, account=obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or user_manageable_by(editor=request.user, account=obj))

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        account = self.get_object(request, id)
        if account is not None and not user_manageable_by(editor=request.user, account=account):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not request.user.is_superuser and (
            obj.is_superuser or not user_manageable_by(editor=request.user, account=obj)
        ):
            raise PermissionDenied  # belt and braces behind the read-only fields
        super().save_model(request, obj, form, change)


class SuperuserOnlyGroupAdmin(GroupAdmin):
    """Groups carry permissions across every tenant: editing one is granting rights, the operator's job."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


for _model, _admin_class in ((User, TenantUserAdmin), (Group, SuperuserOnlyGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)


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
    list_display = (
        "__str__",
        "email",
        "company",
        "lead_source",
        "lifecycle_stage",
        "owner_email",
        "organization",
        "converted_at",
    )
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


class AppendOnlyAdmin(OrganizationScopedAdmin):
    """Records the system writes to account for itself: readable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(AppendOnlyAdmin):
    list_display = ("created_at", "action", "actor", "organization", "target_type", "target_id")
    list_filter = ("action", ORGANIZATION_FILTER)
    search_fields = ("action", "target_id", "actor__username")
    list_select_related = ("actor", "organization")
    date_hierarchy = "created_at"


@admin.register(ErasedPerson)
class ErasedPersonAdmin(AppendOnlyAdmin):
    list_display = ("id", "organization", "connection", "external_id", "erased_at")
    list_filter = (ORGANIZATION_FILTER,)
    search_fields = ("external_id",)
    list_select_related = ("organization", "connection")


@admin.register(DealHistory)
class DealHistoryAdmin(AppendOnlyAdmin):
    list_display = ("changed_at", "deal", "field", "old_value", "new_value", "source", "organization")
    list_filter = ("field", "source", ORGANIZATION_FILTER)
    search_fields = ("deal__name", "deal__external_id")
    raw_id_fields = ("deal",)
    list_select_related = ("organization", "deal")
    date_hierarchy = "changed_at"


@admin.register(PipelineStage)
class PipelineStageAdmin(OrganizationScopedAdmin):
    list_display = ("pipeline", "stage", "display_order", "probability", "is_closed", "is_won", "organization")
    list_filter = ("pipeline", ORGANIZATION_FILTER)
    search_fields = ("pipeline", "stage")


@admin.register(CurrencyRate)
class CurrencyRateAdmin(OrganizationScopedAdmin):
    list_display = ("currency", "rate_to_base", "valid_from", "organization")
    list_filter = ("currency", ORGANIZATION_FILTER)


@admin.register(OwnerTeam)
class OwnerTeamAdmin(OrganizationScopedAdmin):
    """Which team each CRM deal owner is in: the forecast's per-team rows (edited here)."""

    list_display = ("owner_email", "team", "organization")
    list_editable = ("team",)
    list_filter = ("team", ORGANIZATION_FILTER)
    search_fields = ("owner_email", "team")
