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

import csv
import datetime as dt
import io
import json
import operator
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import connection as db_connection
from django.db import models, transaction
from django.utils import timezone

from salesai.core.models import Activity, Company, Contact, Deal, Membership, Organization, SyncedRecord

# Apps whose permissions an organization admin gets in the Django admin.
ORG_ADMIN_GROUP = "Organization admins"
ORG_ADMIN_APP_LABELS = ("core", "crm_connectors", "ml")

# Rows per ORM statement: keeps SQLite under its bound-parameter limit.
ORM_CHUNK_SIZE = 500
# Switch for tests that compare the PostgreSQL fast path with the generic ORM path on the same database.
POSTGRES_FAST_PATH = True


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


# --- Bulk upserts of synced rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One rejected record: `index` in the input list, `field` the canonical field at fault (if any)."""

    index: int
    reason: str
    external_id: str | None = None
    field: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "line": self.line,
            "field": self.field,
            "external_id": self.external_id,
            "reason": self.reason,
        }


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Every accepted record's row id (created, updated and unchanged alike).
    ids_by_external_id: dict[str, int] = field(default_factory=dict)
    # Ids of rows that were created or updated (including undeleted), in input order.
    changed_ids: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)


def company_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return _bulk_upsert(_spec(Company), organization_id=organization_id, connection_id=connection_id, records=records)


def contact_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return _bulk_upsert(_spec(Contact), organization_id=organization_id, connection_id=connection_id, records=records)


def deal_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return _bulk_upsert(_spec(Deal), organization_id=organization_id, connection_id=connection_id, records=records)


def activity_bulk_upsert(*, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    return _bulk_upsert(_spec(Activity), organization_id=organization_id, connection_id=connection_id, records=records)


def records_soft_delete(*, model: type[SyncedRecord], connection_id: int, external_ids: Iterable[str]) -> int:
    """Soft-delete the live rows of a connection with these external ids; returns how many were deleted."""
    now = timezone.now()
    deleted = 0
    for chunk in _chunks(list(dict.fromkeys(external_ids)), ORM_CHUNK_SIZE):
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
    for chunk in _chunks(vanished_ids, ORM_CHUNK_SIZE):
        deleted += model.objects.filter(id__in=chunk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now)
    return deleted


# --- Field specs and value normalization ----------------------------------------------------------------

_COMMON_FIELDS = ("properties", "remote_updated_at")
_DATA_FIELDS: dict[type[SyncedRecord], tuple[str, ...]] = {
    Company: ("name", "domain", "industry", "employee_count", "annual_revenue", "country", "city"),
    Contact: (
        "first_name", "last_name", "email", "phone", "job_title", "lead_source", "lead_status",
        "lifecycle_stage", "owner_email", "opted_out", "remote_created_at", "converted_at",
    ),
    Deal: ("name", "amount", "currency", "pipeline", "stage", "status", "close_date", "remote_created_at"),
    Activity: ("kind", "direction", "subject", "body", "occurred_at"),
}
# (record key, model FK attname, parent model), resolved within the same connection.
_PARENTS: dict[type[SyncedRecord], tuple[tuple[str, str, type[SyncedRecord]], ...]] = {
    Company: (),
    Contact: (("company_external_id", "company_id", Company),),
    Deal: (("company_external_id", "company_id", Company), ("contact_external_id", "contact_id", Contact)),
    Activity: (
        ("contact_external_id", "contact_id", Contact),
        ("company_external_id", "company_id", Company),
        ("deal_external_id", "deal_id", Deal),
    ),
}
LINE_KEY = "_line"


class _Invalid(ValueError):
    pass


Normalizer = Callable[[Any], Any]


@dataclass(frozen=True)
class _Spec:
    model: type[SyncedRecord]
    normalizers: dict[str, Normalizer]  # canonical field -> normalizer (data + common fields)
    defaults: dict[str, Any]  # value a new row gets for a field absent from the record
    required: frozenset[str]  # fields a new row must have (non-blank)
    parents: tuple[tuple[str, str, type[SyncedRecord]], ...]
    text_limits: dict[str, int]  # free-text fields (no choices, not required) -> max length

    @property
    def columns(self) -> tuple[str, ...]:
        """Every writable column (attnames) in a stable order: data fields, then parent FKs."""
        return tuple(self.normalizers) + tuple(attname for _, attname, _ in self.parents)


_SPEC_CACHE: dict[type[SyncedRecord], _Spec] = {}


def _spec(model: type[SyncedRecord]) -> _Spec:
    spec = _SPEC_CACHE.get(model)
    if spec is None:
        normalizers: dict[str, Normalizer] = {}
        defaults: dict[str, Any] = {}
        required = set()
        text_limits: dict[str, int] = {}
        for name in _DATA_FIELDS[model] + _COMMON_FIELDS:
            model_field = model._meta.get_field(name)
            normalizers[name] = _normalizer_for(model_field)
            defaults[name] = model_field.get_default()
            if not model_field.blank and not model_field.null and not model_field.has_default():
                required.add(name)
            elif isinstance(model_field, (models.CharField, models.TextField)) and not model_field.choices:
                text_limits[name] = model_field.max_length or sys.maxsize
        spec = _Spec(model, normalizers, defaults, frozenset(required), _PARENTS[model], text_limits)
        _SPEC_CACHE[model] = spec
    return spec


def _normalizer_for(model_field: models.Field) -> Normalizer:
    if isinstance(model_field, models.JSONField):
        return _normalize_json
    if isinstance(model_field, models.BooleanField):
        return _normalize_bool
    if isinstance(model_field, models.DateTimeField):
        return _normalize_datetime
    if isinstance(model_field, models.DateField):
        return _normalize_date
    if isinstance(model_field, models.DecimalField):
        return _decimal_normalizer(model_field.max_digits, model_field.decimal_places)
    if isinstance(model_field, models.IntegerField):
        return _integer_normalizer(0 if isinstance(model_field, models.PositiveIntegerField) else -(2**31))
    if isinstance(model_field, (models.CharField, models.TextField)):
        choices = frozenset(value for value, _ in model_field.choices) if model_field.choices else None
        return _text_normalizer(model_field.max_length, choices, allow_blank=model_field.blank)
    raise TypeError(f"no normalizer for {model_field!r}")  # pragma: no cover - a new field type needs one


def _text_normalizer(max_length: int | None, choices: frozenset[str] | None, *, allow_blank: bool) -> Normalizer:
    def normalize(value: Any) -> str:
        if value is None:
            value = ""
        elif type(value) is not str:
            raise _Invalid(f"expected text, got {type(value).__name__}")
        if max_length is not None and len(value) > max_length:
            raise _Invalid(f"longer than {max_length} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL; reject it the same way on every backend
            raise _Invalid("contains a NUL character")
        if choices is not None and value not in choices and not (allow_blank and value == ""):
            raise _Invalid(f"{value!r} is not one of: {', '.join(sorted(c for c in choices if c))}")
        return value

    return normalize


def _integer_normalizer(minimum: int) -> Normalizer:
    maximum = 2**31 - 1

    def normalize(value: Any) -> int | None:
        if value is None or value == "":
            return None
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, (int, str, float, Decimal)):
                raise _Invalid(f"expected a whole number, got {type(value).__name__}")
            try:
                as_decimal = Decimal(str(value).strip())
            except InvalidOperation:
                raise _Invalid(f"{value!r} is not a whole number") from None
            if not as_decimal.is_finite() or as_decimal != as_decimal.to_integral_value():
                raise _Invalid(f"{value!r} is not a whole number")
            value = int(as_decimal)
        if not minimum <= value <= maximum:
            raise _Invalid(f"{value} is out of range {minimum}..{maximum}")
        return value

    return normalize


def _decimal_normalizer(max_digits: int, decimal_places: int) -> Normalizer:
    quantum = Decimal(1).scaleb(-decimal_places)
    limit = Decimal(10) ** (max_digits - decimal_places)

    def normalize(value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
            raise _Invalid(f"expected a number, got {type(value).__name__}")
        try:
            number = value if type(value) is Decimal else Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
            number = number.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise _Invalid(f"{value!r} is not a number") from None
        if abs(number) >= limit:
            raise _Invalid(f"{value} has more than {max_digits - decimal_places} digits before the decimal point")
        return number

    return normalize


def _normalize_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(f"{value!r} is not an ISO 8601 date-time") from None
    elif not isinstance(value, dt.datetime):
        raise _Invalid(f"expected a date-time, got {type(value).__name__}")
    if value.tzinfo is None:
        # Naive times from a CRM are taken as UTC, the same on every database backend.
        value = value.replace(tzinfo=dt.UTC)
    return value


def _normalize_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(f"{value!r} is not an ISO 8601 date") from None
    raise _Invalid(f"expected a date, got {type(value).__name__}")


_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f", ""})


def _normalize_bool(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is bool:
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
    elif isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _Invalid(f"{value!r} is not true/false")


def _normalize_json(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"expected an object, got {type(value).__name__}")
    return value


# --- The upsert itself ----------------------------------------------------------------------------------

_RECORD_META_KEYS = frozenset({"external_id", LINE_KEY})


@dataclass
class _Row:
    index: int
    external_id: str
    values: dict[str, Any]  # attname -> normalized value, only for fields present in the record
    line: int | None


def _bulk_upsert(spec: _Spec, *, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    result = UpsertResult()
    rows = _validate(spec, records, result)
    rows = _resolve_parents(spec, connection_id, rows, result)
    changed: list[tuple[int, int]] = []  # (input index, row id) of created and updated rows
    if rows:
        with transaction.atomic():
            if POSTGRES_FAST_PATH and db_connection.vendor == "postgresql":
                _upsert_postgres(spec, organization_id, connection_id, rows, result, changed)
            else:
                _upsert_orm(spec, organization_id, connection_id, rows, result, changed)
    result.changed_ids = [row_id for _, row_id in sorted(changed)]
    result.errors.sort(key=lambda error: error.index)
    return result


def _validate(spec: _Spec, records: list[dict], result: UpsertResult) -> list[_Row]:
    normalizers = spec.normalizers
    text_limits = spec.text_limits
    parent_keys = {key for key, _, _ in spec.parents}
    seen: set[str] = set()
    rows: list[_Row] = []
    for index, record in enumerate(records):
        line = record.get(LINE_KEY)
        external_id = record.get("external_id")
        if type(external_id) is not str or not external_id.strip():
            result.errors.append(RowError(index, "missing external_id", None, "external_id", line))
            continue
        if len(external_id) > 255 or "\x00" in external_id:
            reason = "external_id longer than 255 characters" if len(external_id) > 255 else "external_id contains NUL"
            result.errors.append(RowError(index, reason, None, "external_id", line))
            continue
        if external_id in seen:
            reason = "duplicate external_id in this batch"
            result.errors.append(RowError(index, reason, external_id, "external_id", line))
            continue
        seen.add(external_id)
        values: dict[str, Any] = {}
        error = None
        for key, raw in record.items():
            # Fast path for the common case, text that fits: no normalizer call.
            limit = text_limits.get(key)
            if limit is not None and type(raw) is str and len(raw) <= limit and "\x00" not in raw:
                values[key] = raw
                continue
            normalize = normalizers.get(key)
            if normalize is None:
                if key in parent_keys:
                    if raw is not None and type(raw) is not str:
                        error = RowError(index, f"expected text, got {type(raw).__name__}", external_id, key, line)
                        break
                    values[key] = raw or None
                    continue
                if key in _RECORD_META_KEYS:
                    continue
                # A connector bug, not bad data: fail loudly rather than silently dropping the value.
                raise ValueError(f"{spec.model.__name__} records have no field {key!r}")
            try:
                values[key] = normalize(raw)
            except _Invalid as exc:
                error = RowError(index, str(exc), external_id, key, line)
                break
        if error is None:
            for name in spec.required:
                if name in values and (values[name] is None or values[name] == ""):
                    error = RowError(index, f"{name} is required", external_id, name, line)
                    break
        if error is not None:
            result.errors.append(error)
            continue
        rows.append(_Row(index, external_id, values, line))
    return rows


def _resolve_parents(spec: _Spec, connection_id: int, rows: list[_Row], result: UpsertResult) -> list[_Row]:
    """Swap `<parent>_external_id` keys for FK ids; rows naming an unknown parent become row errors."""
    if not spec.parents:
        return rows
    rejected: set[int] = set()
    for key, attname, parent_model in spec.parents:
        wanted = {row.values[key] for row in rows if row.values.get(key)}
        ids = _live_ids(parent_model, connection_id, wanted)
        for row in rows:
            if key not in row.values or row.index in rejected:
                continue
            reference = row.values.pop(key)
            if reference is None:
                row.values[attname] = None
            elif reference in ids:
                row.values[attname] = ids[reference]
            else:
                noun = parent_model._meta.verbose_name
                reason = f"unknown {noun} {reference!r}"
                result.errors.append(RowError(row.index, reason, row.external_id, key, row.line))
                rejected.add(row.index)
    return [row for row in rows if row.index not in rejected] if rejected else rows


def _live_ids(model: type[SyncedRecord], connection_id: int, external_ids: Collection[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(list(external_ids), ORM_CHUNK_SIZE):
        ids.update(
            model.objects.filter(connection_id=connection_id, external_id__in=chunk, deleted_at__isnull=True)
            .values_list("external_id", "id")
        )
    return ids


def _missing_required(spec: _Spec, row: _Row) -> str | None:
    for name in spec.required:
        if name not in row.values:
            return name
    return None


def _upsert_orm(
    spec: _Spec,
    organization_id: int,
    connection_id: int,
    rows: list[_Row],
    result: UpsertResult,
    changed: list[tuple[int, int]],
) -> None:
    model = spec.model
    now = timezone.now()
    for chunk in _chunks(rows, ORM_CHUNK_SIZE):
        existing = {
            obj.external_id: obj
            for obj in model.objects.filter(connection_id=connection_id, external_id__in=[r.external_id for r in chunk])
        }
        to_create: list[tuple[_Row, SyncedRecord]] = []
        to_update: dict[tuple[str, ...], list[SyncedRecord]] = {}
        for row in chunk:
            obj = existing.get(row.external_id)
            if obj is None:
                missing = _missing_required(spec, row)
                if missing:
                    reason = f"{missing} is required"
                    result.errors.append(RowError(row.index, reason, row.external_id, missing, row.line))
                    continue
                new = model(organization_id=organization_id, connection_id=connection_id, external_id=row.external_id)
                for attname, value in row.values.items():
                    setattr(new, attname, value)
                to_create.append((row, new))
                continue
            differs = obj.deleted_at is not None or any(
                getattr(obj, attname) != value for attname, value in row.values.items()
            )
            if differs:
                for attname, value in row.values.items():
                    setattr(obj, attname, value)
                obj.deleted_at = None
                obj.updated_at = now  # bulk_update does not apply auto_now
                to_update.setdefault(tuple(row.values), []).append(obj)
                result.updated += 1
                changed.append((row.index, obj.pk))
            else:
                result.unchanged += 1
            result.ids_by_external_id[row.external_id] = obj.pk
        if to_create:
            model.objects.bulk_create([obj for _, obj in to_create])
            for row, obj in to_create:
                result.ids_by_external_id[row.external_id] = obj.pk
                changed.append((row.index, obj.pk))
            result.created += len(to_create)
        for attnames, objs in to_update.items():
            model.objects.bulk_update(objs, [*attnames, "deleted_at", "updated_at"])


_TEMP_TABLE = "salesai_upsert_batch"


def _upsert_postgres(
    spec: _Spec,
    organization_id: int,
    connection_id: int,
    rows: list[_Row],
    result: UpsertResult,
    changed: list[tuple[int, int]],
) -> None:
    """COPY the batch into a temp table, then one statement that finds the unchanged rows and upserts the rest.

    Unchanged rows are filtered out before the INSERT ... ON CONFLICT DO UPDATE, so they are neither
    rewritten nor even locked; `xmax = 0` tells freshly inserted rows from updated ones.
    """
    model = spec.model
    quote = db_connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = spec.columns
    now = timezone.now()

    # A new row must carry its required fields; checked here as the ORM path does, before any write.
    ok_rows: list[_Row] = []
    existing = _existing_external_ids(model, connection_id, [r.external_id for r in rows if _missing_required(spec, r)])
    for row in rows:
        missing = _missing_required(spec, row)
        if missing and row.external_id not in existing:
            result.errors.append(RowError(row.index, f"{missing} is required", row.external_id, missing, row.line))
        else:
            ok_rows.append(row)
    if not ok_rows:
        return

    # Rows are grouped by which fields they carry: only those are compared and written on conflict.
    groups: dict[tuple[str, ...], list[_Row]] = {}
    for row in ok_rows:
        groups.setdefault(tuple(sorted(row.values)), []).append(row)

    by_external_id = {row.external_id: row for row in ok_rows}
    column_sql = ", ".join(quote(c) for c in columns)
    nullable_sql = ", ".join(quote(c) for c in columns if model._meta.get_field(c).null)
    with db_connection.cursor() as cursor:
        for present, group in groups.items():
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLE}")
            cursor.execute(
                f"CREATE TEMP TABLE {_TEMP_TABLE} AS SELECT external_id, {column_sql} FROM {table} WITH NO DATA"
            )
            with cursor.cursor.copy(
                f"COPY {_TEMP_TABLE} (external_id, {column_sql}) FROM STDIN (FORMAT csv, FORCE_NULL ({nullable_sql}))"
            ) as copy:
                copy.write(_csv_payload(spec, group))

            present_sql = [quote(c) for c in present]
            set_sql = "".join(f"{c} = EXCLUDED.{c}, " for c in present_sql)
            stored = ", ".join(["m.deleted_at"] + [f"m.{c}" for c in present_sql])
            incoming = ", ".join(["NULL::timestamptz"] + [f"t.{c}" for c in present_sql])
            select_sql = ", ".join(f"t.{quote(c)}" for c in columns)
            cursor.execute(
                f"""
                WITH unchanged AS (
                    SELECT m.id, m.external_id FROM {_TEMP_TABLE} t
                    CROSS JOIN LATERAL (
                        -- LIMIT keeps this a per-row unique-index probe: a join could hash the whole
                        -- connection's rows for every page when the table's statistics are stale.
                        SELECT * FROM {table} m
                        WHERE m.connection_id = %(connection_id)s AND m.external_id = t.external_id LIMIT 1
                    ) m
                    WHERE ROW({stored}) IS NOT DISTINCT FROM ROW({incoming})
                ), up AS (
                    INSERT INTO {table} (organization_id, connection_id, external_id, {column_sql},
                                         deleted_at, created_at, updated_at)
                    SELECT %(organization_id)s, %(connection_id)s, t.external_id, {select_sql}, NULL, %(now)s, %(now)s
                    FROM {_TEMP_TABLE} t
                    WHERE NOT EXISTS (SELECT 1 FROM unchanged u WHERE u.external_id = t.external_id)
                    ON CONFLICT (connection_id, external_id) DO UPDATE
                    SET {set_sql}deleted_at = NULL, updated_at = EXCLUDED.updated_at
                    RETURNING id, external_id, (xmax = 0) AS inserted
                )
                SELECT id, external_id, inserted FROM up
                UNION ALL
                SELECT id, external_id, NULL FROM unchanged
                """,
                {"organization_id": organization_id, "connection_id": connection_id, "now": now},
            )
            for row_id, external_id, inserted in cursor.fetchall():
                result.ids_by_external_id[external_id] = row_id
                if inserted is None:
                    result.unchanged += 1
                    continue
                if inserted:
                    result.created += 1
                else:
                    result.updated += 1
                changed.append((by_external_id[external_id].index, row_id))
            cursor.execute(f"DROP TABLE {_TEMP_TABLE}")


_json_encode = json.JSONEncoder(ensure_ascii=False).encode


def _csv_payload(spec: _Spec, rows: list[_Row]) -> str:
    """The rows as CSV for COPY: external_id then `spec.columns`, absent fields as the model default.

    csv writes None as an empty quoted cell, like "": FORCE_NULL turns it into NULL in the nullable
    columns, and those are never text (text fields hold "" rather than NULL), so no value is ambiguous.
    """
    pick = operator.itemgetter(*spec.columns)
    defaults = {column: spec.defaults.get(column) for column in spec.columns}
    lines = []
    for row in rows:
        values = {**defaults, **row.values}
        properties = values["properties"]
        values["properties"] = _json_encode(properties) if properties else "{}"
        lines.append((row.external_id, *pick(values)))
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(lines)
    return buffer.getvalue()


def _existing_external_ids(model: type[SyncedRecord], connection_id: int, external_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(external_ids, ORM_CHUNK_SIZE):
        found.update(
            model.objects.filter(connection_id=connection_id, external_id__in=chunk)
            .values_list("external_id", flat=True)
        )
    return found


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
