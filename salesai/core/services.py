"""Write-side services for tenancy and the synced CRM domain.

Synced rows (companies, contacts, deals, activities) are written only through the `*_bulk_upsert`
services, keyed on `(connection, external_id)`. A record is a dict of the model's canonical field names
(see `_SPECS` below) plus:

- `external_id` (required) and optionally `properties` (dict of CRM custom fields) and `remote_updated_at`;
- parent references `company_external_id` / `contact_external_id` / `deal_external_id`, resolved to live
  rows of the same connection (an unknown reference rejects the record, it never crashes the batch);
- `_line` (optional): where the record came from, echoed back in row errors and never stored.

A field absent from a record keeps its stored value (a new row gets the model default); a present field is
written as given (`""` / `None` clear it). An unchanged record is not rewritten at all, so `updated_at`
only moves when something changed. A soft-deleted row that comes back is undeleted (counted as updated).

On PostgreSQL the upsert is one COPY into a temp table plus one `INSERT ... ON CONFLICT DO UPDATE WHERE
changed` statement; elsewhere it runs through the ORM in chunks. Both paths validate and resolve parents
with the same Python code and produce identical rows and counts.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_slug
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from salesai.core.deal_history import (
    deal_history_record_upsert,
    deal_records_with_base_amounts,
    deal_tracked_values,
)
from salesai.core.fields import EncryptedJSONField, fernet, field_keys
from salesai.core.models import (
    Activity,
    AuditLogEntry,
    Company,
    Contact,
    Deal,
    ErasedPerson,
    Membership,
    Organization,
    SyncedRecord,
)
from salesai.core.upsert.engine import bulk_upsert
from salesai.core.upsert.fields import spec_for
from salesai.core.upsert.records import ORM_CHUNK_SIZE, RowError, UpsertResult, chunks

__all__ = [
    "RowError",
    "UpsertResult",
    "activity_bulk_upsert",
    "audit_log_record",
    "company_bulk_upsert",
    "contact_bulk_upsert",
    "credentials_reencrypt",
    "deal_bulk_upsert",
    "membership_add",
    "organization_create",
    "person_tombstone_add",
    "records_reconcile",
    "records_soft_delete",
]

# Apps whose permissions an organization admin gets in the Django admin.
ORG_ADMIN_GROUP = "Organization admins"
ORG_ADMIN_APP_LABELS = ("core", "crm_connectors", "ml")

# --- Tenancy --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationCreateResult:
    organization: Organization
    admin_user: AbstractBaseUser | None
    organization_created: bool
    admin_user_created: bool


def organization_create(
    *,
    slug: str,
    name: str = "",
    admin_username: str | None = None,
    admin_password: str | None = None,
    admin_email: str = "",
) -> OrganizationCreateResult:
    """Get or create an organization and, optionally, its admin user (idempotent).

    The admin is staff (can use the Django admin) with the organization-admin permissions and an admin
    membership. An existing user's password is only changed when `admin_password` is given.
    """
    # The slug names the organisation's folders (CSV imports, model store): never "..", "/" or spaces.
    validate_slug(slug)
    with transaction.atomic():
        organization, organization_created = Organization.objects.get_or_create(
            slug=slug, defaults={"name": name or slug}
        )
        if not organization_created and name and organization.name != name:
            organization.name = name
            organization.save(update_fields=["name"])

        admin_user = None
        admin_user_created = False
        if admin_username:
            user_model = get_user_model()
            admin_user, admin_user_created = user_model.objects.get_or_create(
                username=admin_username, defaults={"email": admin_email, "is_staff": True}
            )
            if admin_user_created and not admin_password:
                admin_user.set_unusable_password()
            if admin_password:
                # Django's validators (length, common, numeric, similarity): ValidationError rolls it all back.
                validate_password(admin_password, user=admin_user)
                admin_user.set_password(admin_password)
            admin_user.is_staff = True
            if admin_email:
                admin_user.email = admin_email
            admin_user.save()
            admin_user.groups.add(_org_admin_group())
            membership_add(organization=organization, user=admin_user, role=Membership.Role.ADMIN)
    return OrganizationCreateResult(
        organization=organization,
        admin_user=admin_user,
        organization_created=organization_created,
        admin_user_created=admin_user_created,
    )


def membership_add(*, organization: Organization, user: AbstractBaseUser, role: str) -> Membership:
    """Make `user` a member of `organization` with `role` (idempotent; an existing role is changed)."""
    if role not in Membership.Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {Membership.Role.values}")
    membership, created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def _org_admin_group() -> Group:
    group, created = Group.objects.get_or_create(name=ORG_ADMIN_GROUP)
    if created:
        group.permissions.set(Permission.objects.filter(content_type__app_label__in=ORG_ADMIN_APP_LABELS))
    return group


# --- Audit log and erasure tombstones -------------------------------------------------------------------


def audit_log_record(
    *,
    action: str,
    organization_id: int | None = None,
    actor_id: int | None = None,
    target_type: str = "",
    target_id: str | int = "",
    detail: dict | None = None,
) -> AuditLogEntry:
    """Append one entry to the audit log (`action` is "<entity>.<verb>"; `detail` holds no personal data)."""
    return AuditLogEntry.objects.create(
        action=action,
        organization_id=organization_id,
        actor_id=actor_id,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
    )


def person_tombstone_add(
    *, organization_id: int, emails: Iterable[str], records: Iterable[tuple[int | None, str]]
) -> int:
    """Remember an erased person so syncs never import them again: their emails (hashed) and their CRM
    records as (connection id, external id). Returns how many tombstones were added."""
    digests = sorted({digest for digest in (ErasedPerson.email_key(email) for email in emails) if digest})
    rows = [ErasedPerson(organization_id=organization_id, email_sha256=digest) for digest in digests]
    rows += [
        ErasedPerson(organization_id=organization_id, connection_id=connection_id, external_id=external_id)
        for connection_id, external_id in sorted(set(records), key=str)
        if connection_id is not None and external_id
    ]
    ErasedPerson.objects.bulk_create(rows)
    return len(rows)


# --- Bulk upserts of synced rows ------------------------------------------------------------------------


def company_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return bulk_upsert(spec_for(Company), organization_id=organization_id, connection_id=connection_id, records=records)


def contact_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return bulk_upsert(spec_for(Contact), organization_id=organization_id, connection_id=connection_id, records=records)


def deal_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    # Changes of the tracked fields append deal history in the same transaction (salesai/core/deal_history.py).
    with transaction.atomic():
        before = deal_tracked_values(connection_id=connection_id, external_ids=(r.get("external_id") for r in records))
        records = deal_records_with_base_amounts(organization_id=organization_id, records=records, before=before)
        result = bulk_upsert(
            spec_for(Deal), organization_id=organization_id, connection_id=connection_id, records=records
        )
        deal_history_record_upsert(organization_id=organization_id, before=before, changed_ids=result.changed_ids)
    return result


def activity_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return bulk_upsert(
        spec_for(Activity), organization_id=organization_id, connection_id=connection_id, records=records
    )


def records_soft_delete(*, model: type[SyncedRecord], connection_id: int, external_ids: Iterable[str]) -> int:
    """Soft-delete the live rows of a connection with these external ids; returns how many were deleted."""
    now = timezone.now()
    deleted = 0
    for chunk in chunks(list(dict.fromkeys(external_ids)), ORM_CHUNK_SIZE):
        deleted += model.objects.filter(
            connection_id=connection_id, external_id__in=chunk, deleted_at__isnull=True
        ).update(deleted_at=now, updated_at=now)
    return deleted


def records_reconcile(*, model: type[SyncedRecord], connection_id: int, present_external_ids: Collection[str]) -> int:
    """Soft-delete the live rows of a connection whose external id is absent from the complete id set."""
    present = present_external_ids if isinstance(present_external_ids, (set, frozenset)) else set(present_external_ids)
    live = model.objects.filter(connection_id=connection_id, deleted_at__isnull=True).values_list("id", "external_id")
    vanished_ids = [row_id for row_id, external_id in live.iterator(chunk_size=5000) if external_id not in present]
    now = timezone.now()
    deleted = 0
    for chunk in chunks(vanished_ids, ORM_CHUNK_SIZE):
        deleted += model.objects.filter(id__in=chunk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now)
    return deleted


# --- Credentials at rest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialsReencryptResult:
    fields: list[str]  # "app_label.Model.field" of every encrypted field scanned
    values: int  # non-empty stored values read
    reencrypted: int  # values rewritten under the newest key (the rest already were)


def credentials_reencrypt(
    *, extra_keys: Iterable[bytes | str] = (), batch_size: int = 500
) -> CredentialsReencryptResult:
    """Rewrite every stored EncryptedJSONField value under the newest of FIELD_ENCRYPTION_KEYS (idempotent).

    Values already under the newest key are left alone. `extra_keys` also decrypt, for values written with a
    key no longer configured (the SECRET_KEY-derived key of older releases). A value no key opens raises
    ValueError naming its row, before anything of that batch is written."""
    only_newest = Fernet(field_keys()[0])
    any_key = fernet(extra_keys=extra_keys)
    scanned: list[str] = []
    values = reencrypted = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedJSONField):
                continue
            scanned.append(f"{model._meta.label}.{field.name}")
            raw = Cast(field.name, output_field=models.TextField())  # the token, bypassing from_db_value
            manager = model._base_manager
            pks = list(manager.annotate(_token=raw).exclude(_token="").values_list("pk", flat=True).order_by("pk"))
            for start in range(0, len(pks), batch_size):
                with transaction.atomic():
                    rows = (
                        manager.select_for_update()
                        .filter(pk__in=pks[start : start + batch_size])
                        .annotate(_token=raw)
                        .values_list("pk", "_token")
                    )
                    for pk, token in rows:
                        if not token:
                            continue
                        values += 1
                        try:
                            only_newest.decrypt(token.encode())
                            continue
                        except InvalidToken:
                            pass
                        try:
                            plain = any_key.decrypt(token.encode())
                        except InvalidToken:
                            raise ValueError(
                                f"{model._meta.label} {pk}: {field.name} opens with none of the keys"
                            ) from None
                        manager.filter(pk=pk).update(**{field.name: json.loads(plain)})
                        reencrypted += 1
    return CredentialsReencryptResult(fields=scanned, values=values, reencrypted=reencrypted)
