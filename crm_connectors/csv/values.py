"""Cell parsers: CSV text -> canonical values, raising CellError with a reason a person can act on.

Each field of each object type has a kind; `parser_for` builds one closure per mapped column once per
file, so the per-cell work is a strip and, for typed fields, one conversion.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from salesai.core.models import Activity, Contact, Deal


class CellError(ValueError):
    pass


Parser = Callable[[str], Any]

TEXT, EMAIL, INTEGER, DECIMAL, DATETIME, DATE, BOOLEAN, CHOICE, REFERENCE = (
    "text",
    "email",
    "integer",
    "decimal",
    "datetime",
    "date",
    "boolean",
    "choice",
    "reference",
)

# Our fields per object type and their kinds; `external_id` is always required.
FIELDS: dict[str, dict[str, str]] = {
    "companies": {
        "external_id": TEXT,
        "name": TEXT,
        "domain": TEXT,
        "industry": TEXT,
        "employee_count": INTEGER,
        "annual_revenue": DECIMAL,
        "country": TEXT,
        "city": TEXT,
        "remote_updated_at": DATETIME,
    },
    "contacts": {
        "external_id": TEXT,
        "company_external_id": REFERENCE,
        "first_name": TEXT,
        "last_name": TEXT,
        "email": EMAIL,
        "phone": TEXT,
        "job_title": TEXT,
        "lead_source": TEXT,
        "lead_status": TEXT,
        "lifecycle_stage": CHOICE,
        "owner_email": EMAIL,
        "opted_out": BOOLEAN,
        "remote_created_at": DATETIME,
        "converted_at": DATETIME,
        "remote_updated_at": DATETIME,
    },
    "deals": {
        "external_id": TEXT,
        "company_external_id": REFERENCE,
        "contact_external_id": REFERENCE,
        "name": TEXT,
        "amount": DECIMAL,
        "currency": TEXT,
        "pipeline": TEXT,
        "stage": TEXT,
        "status": CHOICE,
        "close_date": DATE,
        "closed_at": DATETIME,
        "owner_email": EMAIL,
        "remote_created_at": DATETIME,
        "remote_updated_at": DATETIME,
    },
    "activities": {
        "external_id": TEXT,
        "contact_external_id": REFERENCE,
        "company_external_id": REFERENCE,
        "deal_external_id": REFERENCE,
        "kind": CHOICE,
        "direction": CHOICE,
        "subject": TEXT,
        "body": TEXT,
        "occurred_at": DATETIME,
        "remote_updated_at": DATETIME,
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "companies": ("external_id", "name"),
    "contacts": ("external_id",),
    "deals": ("external_id", "name"),
    "activities": ("external_id", "kind", "occurred_at"),
}
# (choices, value for an empty cell: None = the cell may not be empty)
CHOICES: dict[tuple[str, str], tuple[Any, str | None]] = {
    ("contacts", "lifecycle_stage"): (Contact.LifecycleStage, ""),
    ("deals", "status"): (Deal.Status, Deal.Status.OPEN.value),
    ("activities", "kind"): (Activity.Kind, None),
    ("activities", "direction"): (Activity.Direction, ""),
}

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")
_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f", ""})


def parser_for(
    object_type: str,
    field: str,
    *,
    date_format: str | None,
    tz: ZoneInfo,
    thousands_separator: str,
    decimal_separator: str,
    synonyms: Mapping[str, Any],
) -> Parser:
    """The parser of one mapped column. `synonyms` maps extra cell texts (any case) to canonical values."""
    kind = FIELDS[object_type][field]
    required = field in REQUIRED[object_type]
    if kind in (TEXT, REFERENCE):
        return _required(str.strip) if required else str.strip
    if kind == EMAIL:
        return _email
    if kind == INTEGER:
        return _integer(thousands_separator)
    if kind == DECIMAL:
        return _decimal(thousands_separator, decimal_separator)
    if kind == DATETIME:
        parse = _datetime(date_format, tz)
        return _required(parse) if required else parse
    if kind == DATE:
        return _date(date_format)
    if kind == BOOLEAN:
        return _boolean({str(k).strip().lower(): bool(v) for k, v in synonyms.items()})
    if kind == CHOICE:
        return _choice(object_type, field, synonyms)
    raise AssertionError(kind)  # pragma: no cover


def _required(parse: Parser) -> Parser:
    def parse_required(text: str) -> Any:
        value = parse(text)
        if value is None or value == "":
            raise CellError("is empty but required")
        return value

    return parse_required


def _email(text: str) -> str:
    value = text.strip()
    if value and (len(value) > 254 or not _EMAIL.match(value)):
        raise CellError(f"{value!r} is not an email address")
    return value


def _integer(thousands_separator: str) -> Parser:
    def parse(text: str) -> int | None:
        value = text.strip()
        if not value:
            return None
        if thousands_separator:
            value = value.replace(thousands_separator, "")
        try:
            return int(value)
        except ValueError:
            raise CellError(f"{text.strip()!r} is not a whole number") from None

    return parse


def _decimal(thousands_separator: str, decimal_separator: str) -> Parser:
    def parse(text: str) -> Decimal | None:
        value = text.strip()
        if not value:
            return None
        if thousands_separator:
            value = value.replace(thousands_separator, "")
        if decimal_separator != ".":
            value = value.replace(decimal_separator, ".")
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise CellError(f"{text.strip()!r} is not a number")
        return number

    return parse


def _datetime(date_format: str | None, tz: ZoneInfo) -> Parser:
    def parse(text: str) -> dt.datetime | None:
        value = text.strip()
        if not value:
            return None
        parsed = None
        if date_format:
            try:
                parsed = dt.datetime.strptime(value, date_format)
            except ValueError:
                pass
        if parsed is None:
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                expected = f"{date_format!r} or ISO 8601" if date_format else "an ISO 8601 date"
                raise CellError(f"{value!r} is not a date ({expected})") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed

    return parse


def _date(date_format: str | None) -> Parser:
    def parse(text: str) -> dt.date | None:
        value = text.strip()
        if not value:
            return None
        if date_format:
            try:
                return dt.datetime.strptime(value, date_format).date()
            except ValueError:
                pass
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            expected = f"{date_format!r} or ISO 8601" if date_format else "an ISO 8601 date"
            raise CellError(f"{value!r} is not a date ({expected})") from None

    return parse


def _boolean(synonyms: dict[str, bool]) -> Parser:
    def parse(text: str) -> bool:
        value = text.strip().lower()
        if value in synonyms:
            return synonyms[value]
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise CellError(f"{text.strip()!r} is not true/false (map it under `values`)")

    return parse


def _choice(object_type: str, field: str, synonyms: Mapping[str, Any]) -> Parser:
    choices, empty_value = CHOICES[(object_type, field)]
    lookup: dict[str, str] = {}
    for value, label in choices.choices:
        if value:
            lookup[value.lower()] = value
            lookup[str(label).lower()] = value
    for text, value in synonyms.items():
        lookup[str(text).strip().lower()] = value
    allowed = ", ".join(value for value in choices.values if value)

    def parse(text: str) -> str:
        value = text.strip()
        if not value:
            if empty_value is None:
                raise CellError("is empty but required")
            return empty_value
        try:
            return lookup[value.lower()]
        except KeyError:
            raise CellError(f"{value!r} is not one of: {allowed} (map synonyms under `values`)") from None

    return parse


def choice_values(object_type: str, field: str) -> frozenset[str]:
    choices, _ = CHOICES[(object_type, field)]
    return frozenset(choices.values)
