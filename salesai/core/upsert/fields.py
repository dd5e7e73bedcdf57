"""Which fields each synced model takes, and how raw CRM values are normalized into them."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models

from salesai.core.models import Activity, Company, Contact, Deal, SyncedRecord
from salesai.core.upsert.records import Row

_COMMON_FIELDS = ("properties", "remote_updated_at")
_DATA_FIELDS: dict[type[SyncedRecord], tuple[str, ...]] = {
    Company: ("name", "domain", "industry", "employee_count", "annual_revenue", "country", "city"),
    Contact: (
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "lead_source",
        "lead_status",
        "lifecycle_stage",
        "owner_email",
        "opted_out",
        "remote_created_at",
        "converted_at",
    ),
    Deal: (
        "name",
        "amount",
        "currency",
        "pipeline",
        "stage",
        "status",
        "close_date",
        "remote_created_at",
        "owner_email",
        "closed_at",
        "amount_base",  # filled by deal_bulk_upsert from the stored rates
    ),
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


class InvalidValue(ValueError):
    pass


Normalizer = Callable[[Any], Any]


@dataclass(frozen=True)
class Spec:
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


_SPEC_CACHE: dict[type[SyncedRecord], Spec] = {}


def spec_for(model: type[SyncedRecord]) -> Spec:
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
        spec = Spec(model, normalizers, defaults, frozenset(required), _PARENTS[model], text_limits)
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
            raise InvalidValue(f"expected text, got {type(value).__name__}")
        if max_length is not None and len(value) > max_length:
            raise InvalidValue(f"longer than {max_length} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL; reject it the same way on every backend
            raise InvalidValue("contains a NUL character")
        if choices is not None and value not in choices and not (allow_blank and value == ""):
            raise InvalidValue(f"{value!r} is not one of: {', '.join(sorted(c for c in choices if c))}")
        return value

    return normalize


def _integer_normalizer(minimum: int) -> Normalizer:
    maximum = 2**31 - 1

    def normalize(value: Any) -> int | None:
        if value is None or value == "":
            return None
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, (int, str, float, Decimal)):
                raise InvalidValue(f"expected a whole number, got {type(value).__name__}")
            try:
                as_decimal = Decimal(str(value).strip())
            except InvalidOperation:
                raise InvalidValue(f"{value!r} is not a whole number") from None
            if not as_decimal.is_finite() or as_decimal != as_decimal.to_integral_value():
                raise InvalidValue(f"{value!r} is not a whole number")
            value = int(as_decimal)
        if not minimum <= value <= maximum:
            raise InvalidValue(f"{value} is out of range {minimum}..{maximum}")
        return value

    return normalize


def _decimal_normalizer(max_digits: int, decimal_places: int) -> Normalizer:
    quantum = Decimal(1).scaleb(-decimal_places)
    limit = Decimal(10) ** (max_digits - decimal_places)

    def normalize(value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
            raise InvalidValue(f"expected a number, got {type(value).__name__}")
        try:
            number = value if type(value) is Decimal else Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
            number = number.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise InvalidValue(f"{value!r} is not a number") from None
        if abs(number) >= limit:
            raise InvalidValue(f"{value} has more than {max_digits - decimal_places} digits before the decimal point")
        return number

    return normalize


def _normalize_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(f"{value!r} is not an ISO 8601 date-time") from None
    elif not isinstance(value, dt.datetime):
        raise InvalidValue(f"expected a date-time, got {type(value).__name__}")
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
            raise InvalidValue(f"{value!r} is not an ISO 8601 date") from None
    raise InvalidValue(f"expected a date, got {type(value).__name__}")


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
    raise InvalidValue(f"{value!r} is not true/false")


def _normalize_json(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValue(f"expected an object, got {type(value).__name__}")
    return value


def missing_required(spec: Spec, row: Row) -> str | None:
    for name in spec.required:
        if name not in row.values:
            return name
    return None
