"""Pipedrive records -> our canonical records (pure functions, no HTTP, no ORM).

Persons -> contacts, organizations -> companies, deals -> deals, activities and notes -> activities.
Custom fields arrive in `custom_fields` keyed by 40-character hashes; they are stored in `properties`
under the field's name, converted by the field's type (`*Fields` endpoints). A value whose type does not
fit its field raises MappingError, which rejects that one record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_connectors.pipedrive.html_text import html_to_text

# Pipedrive's built-in activity types -> our kinds; custom types fall back to DEFAULT_ACTIVITY_KIND.
ACTIVITY_KINDS: dict[str, str] = {
    "call": "call",
    "meeting": "meeting",
    "lunch": "meeting",
    "email": "email",
    "task": "task",
    "deadline": "task",
}
DEFAULT_ACTIVITY_KIND = "task"  # a Pipedrive activity is a to-do unless its type says otherwise
DEAL_STATUSES = frozenset({"open", "won", "lost"})
NOTE_ID_PREFIX = "note:"  # notes and activities share our activities table but not Pipedrive's id space

_TEXT_TYPES = frozenset({"varchar", "varchar_auto", "varchar_options", "text", "phone"})
_REFERENCE_TYPES = frozenset({"user", "org", "people", "deal", "lead", "project", "stage", "activity"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")


class MappingError(ValueError):
    """One record's value does not fit; `field` names the Pipedrive field (its name for custom fields)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class FieldDef:
    code: str
    name: str
    type: str
    custom: bool
    options: dict[str, str] = field(default_factory=dict)  # option id (as text) -> label


@dataclass(frozen=True)
class FieldSchema:
    """One entity's fields; `property_names` gives every custom field a unique property name."""

    by_code: dict[str, FieldDef]
    property_names: dict[str, str]

    def option_label(self, code: str, option_id: Any) -> str | None:
        definition = self.by_code.get(code)
        if definition is None or option_id is None:
            return None
        return definition.options.get(str(option_id))


EMPTY_SCHEMA = FieldSchema({}, {})


def fields_parse(raw_fields: Iterable[Mapping[str, Any]]) -> FieldSchema:
    """The `data` items of `GET /api/v2/<entity>Fields` -> FieldSchema."""
    by_code: dict[str, FieldDef] = {}
    for raw in raw_fields:
        code = raw.get("field_code") or raw.get("key")
        if not isinstance(code, str) or not code:
            continue
        options = {
            str(option.get("id")): str(option.get("label", ""))
            for option in raw.get("options") or []
            if isinstance(option, Mapping) and option.get("id") is not None
        }
        by_code[code] = FieldDef(
            code=code,
            name=str(raw.get("field_name") or raw.get("name") or code),
            type=str(raw.get("field_type") or "varchar"),
            custom=bool(raw.get("is_custom_field", raw.get("edit_flag", False))),
            options=options,
        )
    property_names: dict[str, str] = {}
    taken: set[str] = set()
    for definition in by_code.values():
        if not definition.custom:
            continue
        name = definition.name
        if name in taken:  # two custom fields with one label: keep both, told apart by their key
            name = f"{name} [{definition.code[:8]}]"
        taken.add(name)
        property_names[definition.code] = name
    return FieldSchema(by_code, property_names)


# --- custom fields ---------------------------------------------------------------------------------------


def custom_properties(custom_fields: Any, schema: FieldSchema) -> dict[str, Any]:
    """`custom_fields` of a v2 record -> {field name: typed value}; keys the schema lacks are kept as sent."""
    if custom_fields is None:
        return {}
    if not isinstance(custom_fields, Mapping):
        raise MappingError("custom_fields", f"expected an object, got {type(custom_fields).__name__}")
    properties: dict[str, Any] = {}
    for code, raw in custom_fields.items():
        definition = schema.by_code.get(code)
        if definition is None:
            properties[code] = raw
            continue
        name = schema.property_names.get(code, definition.name)
        try:
            properties[name] = custom_value(definition, raw)
        except (TypeError, ValueError) as exc:
            raise MappingError(name, f"{exc} (a {definition.type} field)") from None
    return properties


def custom_value(definition: FieldDef, value: Any) -> Any:
    """One custom field value, checked and converted by the field's type; TypeError/ValueError if it does not fit."""
    if value is None:
        return None
    kind = definition.type
    if kind in _TEXT_TYPES:
        return _expect(value, str)
    if kind == "int":
        return _whole_number(value)
    if kind == "double":
        return _number(value)
    if kind == "monetary":
        if isinstance(value, Mapping):
            return {"value": _number(value.get("value")), "currency": _expect(value.get("currency") or "", str)}
        return {"value": _number(value), "currency": ""}
    if kind == "boolean":
        return _expect(value, bool)
    if kind == "date":
        return _date_text(value)
    if kind == "time":
        text = _expect(value, str)
        if not _TIME.match(text):
            raise ValueError(f"{text!r} is not a time (HH:MM:SS)")
        return text
    if kind in ("daterange", "timerange"):
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a range object, got {type(value).__name__}")
        return dict(value)
    if kind == "enum":
        return _option_label(definition, value)
    if kind == "set":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"expected a list of options, got {type(value).__name__}")
        return [_option_label(definition, item) for item in items]
    if kind in _REFERENCE_TYPES:
        if isinstance(value, Mapping):
            value = value.get("value", value.get("id"))
        return _whole_number(value)
    if kind == "address":
        if isinstance(value, (str, Mapping)):
            return dict(value) if isinstance(value, Mapping) else value
        raise ValueError(f"expected an address, got {type(value).__name__}")
    return value  # other types (json, picture...) are kept as sent


def _expect(value: Any, expected: type) -> Any:
    if type(value) is not expected:
        raise ValueError(f"expected {expected.__name__}, got {type(value).__name__} {value!r}")
    return value


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, (float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise ValueError(f"{value!r} is not a whole number")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return int(number) if number == number.to_integral_value() else float(number)
    raise ValueError(f"{value!r} is not a number")


def _date_text(value: Any) -> str:
    text = _expect(value, str)
    try:
        if not _DATE.match(text):
            raise ValueError
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return text


def _option_label(definition: FieldDef, value: Any) -> str:
    if isinstance(value, Mapping):  # include_option_labels=true sends {id, label}
        if "label" in value:
            return str(value["label"])
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"expected an option id, got {type(value).__name__}")
    option_id = str(value).strip()
    # An option deleted since the value was set keeps its id: better than losing the value.
    return definition.options.get(option_id, option_id)


# --- standard fields -------------------------------------------------------------------------------------


def parse_time(value: Any, field_name: str) -> dt.datetime | None:
    """v2 RFC 3339 ("2025-01-01T10:20:00Z") or v1 "2025-01-01 10:20:00" (UTC) -> aware datetime."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MappingError(field_name, f"expected a timestamp, got {type(value).__name__}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise MappingError(field_name, f"{value!r} is not a timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _reference(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, Mapping):  # v1 embeds the linked object: {"value": 5, "name": ...}
        value = value.get("value", value.get("id"))
    if value in (None, 0, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MappingError(key, f"expected an id, got {type(value).__name__}")
    return str(value)


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MappingError(key, f"expected text, got {type(value).__name__}")
    return value


def _primary(record: Mapping[str, Any], key: str) -> str:
    """The primary (else first) value of a person's `emails` / `phones` list."""
    items = record.get(key)
    if items is None:
        return ""
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise MappingError(key, f"expected a list of {{value, primary}} objects, got {type(items).__name__}")
    usable = [item for item in items if item.get("value")]
    if not usable:
        return ""
    chosen = next((item for item in usable if item.get("primary") is True), usable[0])
    value = chosen.get("value")
    if not isinstance(value, str):
        raise MappingError(key, f"expected text, got {type(value).__name__}")
    return value.strip()


def _base(record: Mapping[str, Any], schema: FieldSchema) -> dict[str, Any]:
    record_id = record.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, (int, str)) or record_id in ("", 0):
        raise MappingError("id", f"missing or not an id: {record_id!r}")
    return {
        "external_id": str(record_id),
        "remote_updated_at": parse_time(record.get("update_time"), "update_time"),
        "properties": custom_properties(record.get("custom_fields"), schema),
    }


def organization_to_company(record: Mapping[str, Any], schema: FieldSchema) -> dict[str, Any]:
    company = _base(record, schema)
    address = record.get("address") or {}
    if not isinstance(address, Mapping):
        address = {}  # older accounts send the address as one line of text: nothing structured to map
    industry = record.get("industry")
    company.update(
        name=_text(record, "name"),
        domain=website_domain(_text(record, "website")),
        industry=schema.option_label("industry", industry) or ("" if industry is None else str(industry)),
        employee_count=record.get("employee_count"),
        annual_revenue=record.get("annual_revenue"),
        country=_text(address, "country"),
        city=_text(address, "locality"),
    )
    return company


def person_to_contact(record: Mapping[str, Any], schema: FieldSchema) -> dict[str, Any]:
    contact = _base(record, schema)
    first_name, last_name = _text(record, "first_name"), _text(record, "last_name")
    if not first_name and not last_name:
        first_name = _text(record, "name")
    contact.update(
        first_name=first_name,
        last_name=last_name,
        email=_primary(record, "emails"),
        phone=_primary(record, "phones"),
        company_external_id=_reference(record, "org_id"),
        remote_created_at=parse_time(record.get("add_time"), "add_time"),
    )
    if "job_title" in record:  # only sent when contact sync is on; absent must not clear what we have
        contact["job_title"] = _text(record, "job_title")
    return contact


def deal_to_deal(
    record: Mapping[str, Any],
    schema: FieldSchema,
    *,
    pipelines: Mapping[str, str],
    stages: Mapping[str, str],
    owners: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    deal = _base(record, schema)
    status = record.get("status") or "open"
    if status not in DEAL_STATUSES:
        raise MappingError("status", f"{status!r} is not one of open, won, lost")
    close_time = parse_time(record.get("close_time"), "close_time")
    if status != "open" and close_time is not None:
        close_date: Any = close_time.date()
    else:
        expected = record.get("expected_close_date")
        try:
            close_date = _date_text(expected) if expected else None
        except ValueError as exc:
            raise MappingError("expected_close_date", str(exc)) from None
    pipeline_id, stage_id = _reference(record, "pipeline_id"), _reference(record, "stage_id")
    deal.update(
        name=_text(record, "title"),
        amount=record.get("value"),
        currency=_text(record, "currency"),
        pipeline=pipelines.get(pipeline_id, pipeline_id) if pipeline_id else "",
        stage=stages.get(stage_id, stage_id) if stage_id else "",
        status=status,
        close_date=close_date,
        remote_created_at=parse_time(record.get("add_time"), "add_time"),
        company_external_id=_reference(record, "org_id"),
        contact_external_id=_reference(record, "person_id"),
    )
    if owners is not None:
        owner_id = _reference(record, "owner_id")
        deal["owner_email"] = owners.get(owner_id, "") if owner_id else ""
    # A closed deal's close_time is when it was won or lost; without one the history's status change says when.
    if status == "open" or close_time is not None:
        deal["closed_at"] = close_time if status != "open" else None
    return deal


# Deal changelog field keys (GET /v1/deals/{id}/changelog) -> our tracked deal field.
CHANGELOG_FIELDS = {
    "stage_id": "stage",
    "value": "amount",
    "currency": "currency",
    "expected_close_date": "close_date",
    "user_id": "owner_email",
    "status": "status",
    "pipeline_id": "pipeline",
}


def changelog_value(field: str, raw: Any, *, names: Mapping[str, Mapping[str, str]]) -> str | None:
    """A changelog value as deal history stores it: ids become names (stage, pipeline) or emails (owner);
    None when it cannot be read (left out: history is a hint)."""
    if raw is None or raw == "":
        return ""
    text = str(raw).strip()
    if field in names:
        return names[field].get(text, "" if field == "owner_email" else text)
    if field == "amount":
        try:
            return str(Decimal(text).quantize(Decimal("0.01")))
        except InvalidOperation:
            return None
    if field == "close_date":
        try:
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            return None
    return text


def activity_to_activity(record: Mapping[str, Any], *, kinds: Mapping[str, str]) -> dict[str, Any]:
    activity = _base(record, EMPTY_SCHEMA)
    activity_type = _text(record, "type")
    body = record.get("note") or record.get("public_description") or ""
    if not isinstance(body, str):
        raise MappingError("note", f"expected text, got {type(body).__name__}")
    occurred_at = _due_time(record) or parse_time(record.get("marked_as_done_time"), "marked_as_done_time")
    occurred_at = occurred_at or parse_time(record.get("add_time"), "add_time")
    if occurred_at is None:
        raise MappingError("due_date", "the activity has no due date, done time or add time")
    done = record.get("done")
    if done is not None and type(done) is not bool:
        raise MappingError("done", f"expected true/false, got {done!r}")
    activity.update(
        kind=kinds.get(activity_type, DEFAULT_ACTIVITY_KIND),
        subject=_text(record, "subject"),
        body=html_to_text(body),
        occurred_at=occurred_at,
        contact_external_id=_reference(record, "person_id"),
        company_external_id=_reference(record, "org_id"),
        deal_external_id=_reference(record, "deal_id"),
        # Activities have no custom fields in the v2 list; their type and done flag are worth keeping.
        properties={"type": activity_type, "done": bool(done)},
    )
    return activity


def _due_time(record: Mapping[str, Any]) -> dt.datetime | None:
    due_date = record.get("due_date")
    if not due_date:
        return None
    try:
        day = dt.date.fromisoformat(_expect(due_date, str))
    except ValueError:
        raise MappingError("due_date", f"{due_date!r} is not a date (YYYY-MM-DD)") from None
    due_time = record.get("due_time") or "00:00"
    try:
        if not isinstance(due_time, str) or not _TIME.match(due_time):
            raise ValueError
        time_of_day = dt.time.fromisoformat(due_time)
    except ValueError:
        raise MappingError("due_time", f"{due_time!r} is not a time (HH:MM)") from None
    return dt.datetime.combine(day, time_of_day, tzinfo=dt.UTC)  # Pipedrive sends UTC


def note_to_activity(record: Mapping[str, Any]) -> dict[str, Any]:
    note = _base(record, EMPTY_SCHEMA)
    note["external_id"] = NOTE_ID_PREFIX + note["external_id"]
    occurred_at = parse_time(record.get("add_time"), "add_time") or note["remote_updated_at"]
    if occurred_at is None:
        raise MappingError("add_time", "the note has no add time")
    note.update(
        kind="note",
        body=html_to_text(_text(record, "content")),
        occurred_at=occurred_at,
        contact_external_id=_reference(record, "person_id"),
        company_external_id=_reference(record, "org_id"),
        deal_external_id=_reference(record, "deal_id"),
        properties={},
    )
    return note


def website_domain(website: str) -> str:
    """'https://www.acme.com/about' -> 'acme.com'."""
    text = website.strip().lower()
    if not text:
        return ""
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    host = re.split(r"[/?#]", text, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.removeprefix("www.")[:255]
