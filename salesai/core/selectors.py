"""Read-side queries for tenancy and the CRM domain: who may see which organisation's rows."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, Model, OuterRef, QuerySet

from salesai.core.models import Activity, Company, Contact, Deal, ErasedPerson, Membership, Organization

User = AbstractBaseUser | AnonymousUser

# Roles that may manage connections and promote models; reps read and give feedback.
MANAGING_ROLES = frozenset({Membership.Role.ADMIN, Membership.Role.MANAGER})


def organizations_for_user(*, user: User) -> QuerySet[Organization]:
    """Organisations the user is a member of. Membership is the only way in, superusers included,
    so the API and the manager pages never leak another tenant's rows."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).distinct()


def organization_ids_for_user(*, user: User) -> list[int]:
    return list(organizations_for_user(user=user).values_list("id", flat=True))


def organization_for_user_get(*, user: User, reference: str | int) -> Organization | None:
    """One of the user's organisations by slug or id; None when it does not exist *or* the user is not a
    member, so callers cannot tell the two apart (no existence leak)."""
    organizations = organizations_for_user(user=user)
    text = str(reference).strip()
    if text.isdigit():
        found = organizations.filter(id=int(text)).first()
        if found is not None:
            return found
    return organizations.filter(slug=text).first()


def organization_default_for_user(*, user: User) -> Organization | None:
    """The user's organisation when they have exactly one; None when they have none or several."""
    organizations = list(organizations_for_user(user=user)[:2])
    return organizations[0] if len(organizations) == 1 else None


def membership_role_get(*, user: AbstractBaseUser, organization_id: int) -> str | None:
    return Membership.objects.filter(user=user, organization_id=organization_id).values_list("role", flat=True).first()


def membership_can_manage(*, user: User, organization_id: int) -> bool:
    """Admins and managers of the organisation may change connections and promote models."""
    if not user.is_authenticated:
        return False
    return membership_role_get(user=user, organization_id=organization_id) in MANAGING_ROLES


def organization_ids_administered_by(*, user: User) -> list[int]:
    """Organisations where the user holds the admin role: the only ones whose people they may manage."""
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list("organization_id", flat=True)
    )


def users_visible_to(*, user: User) -> QuerySet:
    """Accounts a non-superuser may see: members of their own organisations (superusers: everyone)."""
    accounts = get_user_model().objects.all()
    if user.is_superuser:
        return accounts
    return accounts.filter(memberships__organization_id__in=organization_ids_for_user(user=user)).distinct()


def user_manageable_by(*, editor: User, account: AbstractBaseUser) -> bool:
    """Whether `editor` may change or delete `account`: superusers may; others only an account that is not a
    superuser and whose every membership is in an organisation they administer (a person who also belongs to
    another tenant is that tenant's to manage too: changing their password would open it)."""
    if editor.is_superuser:
        return True
    if not editor.is_authenticated or account.is_superuser:
        return False
    organizations = set(Membership.objects.filter(user=account).values_list("organization_id", flat=True))
    return bool(organizations) and organizations <= set(organization_ids_administered_by(user=editor))


def records_for_user(*, user: User, model: type[Model], organization_path: str = "organization") -> QuerySet:
    """Rows of any organisation-owned model visible to the user. `organization_path` is the lookup from
    the model to its Organization (e.g. "connection__organization" for rows owned through a connection)."""
    return model.objects.filter(**{f"{organization_path}_id__in": organization_ids_for_user(user=user)})


def company_list_for_user(*, user: User, include_deleted: bool = False) -> QuerySet[Company]:
    companies = records_for_user(user=user, model=Company).select_related("organization")
    return companies if include_deleted else companies.filter(deleted_at__isnull=True)


def contact_list_for_user(*, user: User, include_deleted: bool = False) -> QuerySet[Contact]:
    contacts = records_for_user(user=user, model=Contact).select_related("organization", "company")
    return contacts if include_deleted else contacts.filter(deleted_at__isnull=True)


def deal_list_for_user(*, user: User, include_deleted: bool = False) -> QuerySet[Deal]:
    deals = records_for_user(user=user, model=Deal).select_related("organization", "company", "contact")
    return deals if include_deleted else deals.filter(deleted_at__isnull=True)


def activity_list_for_user(*, user: User, include_deleted: bool = False) -> QuerySet[Activity]:
    activities = records_for_user(user=user, model=Activity).select_related("organization")
    return activities if include_deleted else activities.filter(deleted_at__isnull=True)


def contacts_not_erased(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    """`queryset` without contacts of people erased on request (a tombstone on their CRM record): training
    and scoring frames pass through here, so an erased person never feeds a model again."""
    tombstones = ErasedPerson.objects.filter(
        organization_id=OuterRef("organization_id"),
        connection_id=OuterRef("connection_id"),
        external_id=OuterRef("external_id"),
    )
    return queryset.exclude(Exists(tombstones))


def contact_activities_recent(*, contact_id: int, limit: int = 20) -> QuerySet[Activity]:
    return Activity.objects.filter(contact_id=contact_id, deleted_at__isnull=True).order_by("-occurred_at")[:limit]
