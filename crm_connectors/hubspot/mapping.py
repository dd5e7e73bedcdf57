"""HubSpot records -> our canonical records (pure functions, no HTTP, no ORM).

Every HubSpot property value is a string (CONTRACT.md §2.5); times come as ISO-8601 (with or without
milliseconds), date-only, or epoch-milliseconds strings. Custom (non-HubSpot-defined) properties are kept in
`properties`, typed by their HubSpot `type`. A value of the wrong shape rejects that record only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# Our object type -> the HubSpot object types it is read from.
HUBSPOT_TYPES: dict[str, tuple[str, ...]] = {
    "companies": ("companies",),
    "contacts": ("contacts",),
    "deals": ("deals",),
    "activities": ("emails", "notes", "calls", "meetings", "tasks"),
}
OWNER_ID_KEY = "_hubspot_owner_id"  # in a mapped deal until the connector resolves it to `owner_email`
# The deal properties whose history is read (propertiesWithHistory) -> our tracked deal field.
HISTORY_PROPERTIES = {
    "dealstage": "stage",
    "amount": "amount",
    "closedate": "close_date",
    "deal_currency_code": "currency",
    "hubspot_owner_id": "owner_email",
    "pipeline": "pipeline",
}
ENGAGEMENT_KINDS = {"emails": "email", "notes": "note", "calls": "call", "meetings": "meeting", "tasks": "task"}


def modified_property(hubspot_type: str) -> str:
    """The last-modified property searched on (contacts differ from every other object)."""
    return "lastmodifieddate" if hubspot_type == "contacts" else "hs_lastmodifieddate"


# Which parents each HubSpot type links to, read through v4 associations: (target type, our record key).
PARENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "companies": (),
    "contacts": (("companies", "company_external_id"),),
    "deals": (("companies", "company_external_id"), ("contacts", "contact_external_id")),
    **dict.fromkeys(
        ENGAGEMENT_KINDS,
        (("contacts", "contact_external_id"), ("companies", "company_external_id"), ("deals", "deal_external_id")),
    ),
}
# HubSpot-defined "primary" association type ids (CONTRACT.md §3.2): preferred when a record has several.
PRIMARY_TYPE_IDS: dict[tuple[str, str], frozenset[int]] = {
    ("contacts", "companies"): frozenset({1}),
    ("deals", "companies"): frozenset({5}),
}

# The HubSpot properties read into canonical fields (besides custom ones), per HubSpot type.
_ENGAGEMENT_BASE = ("hs_timestamp", "createdate", "hs_lastmodifieddate")
MAPPED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": (
        "firstname",
        "lastname",
        "email",
        "phone",
        "jobtitle",
        "hs_analytics_source",
        "hs_lead_status",
        "lifecyclestage",
        "hs_email_optout",
        "createdate",
        "lastmodifieddate",
        "hs_lifecyclestage_customer_date",
        "hs_merged_object_ids",
    ),
    "companies": (
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "annualrevenue",
        "country",
        "city",
        "createdate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
    ),
    "deals": (
        "dealname",
        "amount",
        "deal_currency_code",
        "pipeline",
        "dealstage",
        "closedate",
        "createdate",
        "hs_lastmodifieddate",
        "hs_is_closed_won",
        "hs_is_closed",
        "hs_merged_object_ids",
        "hubspot_owner_id",
    ),
    "emails": (*_ENGAGEMENT_BASE, "hs_email_subject", "hs_email_text", "hs_email_direction"),
    "notes": (*_ENGAGEMENT_BASE, "hs_note_body"),
    "calls": (*_ENGAGEMENT_BASE, "hs_call_title", "hs_call_body", "hs_call_direction"),
    "meetings": (*_ENGAGEMENT_BASE, "hs_meeting_title", "hs_meeting_body"),
    "tasks": (*_ENGAGEMENT_BASE, "hs_task_subject", "hs_task_body"),
}
LIFECYCLE_STAGES = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "opportunity": "opportunity",
    "customer": "customer",
}
_SUBJECT = {
    "emails": "hs_email_subject",
    "calls": "hs_call_title",
    "meetings": "hs_meeting_title",
    "tasks": "hs_task_subject",
}
_BODY = {
    "emails": "hs_email_text",
    "notes": "hs_note_body",
    "calls": "hs_call_body",
    "meetings": "hs_meeting_body",
    "tasks": "hs_task_body",
}
_DIRECTIONS = {
    "INCOMING_EMAIL": "inbound",
    "EMAIL": "outbound",
    "FORWARDED_EMAIL": "outbound",
    "INBOUND": "inbound",
    "OUTBOUND": "outbound",
}


class MappingError(ValueError):
    """One record's value is not what HubSpot documents; carries the offending property."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class PropertyDefinition:
    name: str
    type: str
    field_type: str = ""


def custom_properties(definitions: list[Mapping[str, Any]]) -> dict[str, PropertyDefinition]:
    """The portal's own properties (not HubSpot-defined) from a properties-API answer."""
    custom: dict[str, PropertyDefinition] = {}
    for item in definitions:
        if not isinstance(item, Mapping) or item.get("hubspotDefined") or item.get("archived"):
            continue
        name = item.get("name")
        if isinstance(name, str) and name:
            custom[name] = PropertyDefinition(name, str(item.get("type") or "string"), str(item.get("fieldType") or ""))
    return custom


def parse_time(value: Any, *, field: str) -> dt.datetime | None:
    """ISO-8601 date-time, date-only (midnight UTC) or epoch-ms string -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError(f"expected a date-time string, got {type(value).__name__}", field=field)
    text = value.strip()
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)  # 3.11 reads a trailing "Z"
    except ValueError:
        raise MappingError(f"{value!r} is not a date-time", field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def ms_of(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def typed_value(definition: PropertyDefinition, value: Any) -> Any:
    """A custom property's string value as the JSON value its HubSpot type means."""
    if not isinstance(value, str):
        raise MappingError(f"expected a string value, got {type(value).__name__}", field=definition.name)
    kind = definition.type
    if kind == "number":
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise MappingError(f"{value!r} is not a number", field=definition.name) from None
        if not number.is_finite():
            raise MappingError(f"{value!r} is not a number", field=definition.name)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise MappingError(f"{value!r} is not true/false", field=definition.name)
        return lowered == "true"
    if kind == "datetime":
        parsed = parse_time(value, field=definition.name)
        return parsed.isoformat() if parsed else None
    if kind == "date":
        parsed = parse_time(value, field=definition.name)
        return parsed.date().isoformat() if parsed else None
    if kind == "enumeration" and definition.field_type == "checkbox":
        return [part for part in value.split(";") if part]
    return value


def _text(props: Mapping[str, Any], name: str) -> str:
    value = props.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MappingError(f"expected a string, got {type(value).__name__}", field=name)
    return value


def _bool(props: Mapping[str, Any], name: str) -> bool | None:
    value = _text(props, name).strip().lower()
    if value == "":
        return None
    if value not in ("true", "false"):
        raise MappingError(f"{value!r} is not true/false", field=name)
    return value == "true"


def record_id(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        raise MappingError(f"expected a record object, got {type(raw).__name__}")
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise MappingError("record without an id", field="id")
    return str(value)


def merged_ids(raw: Mapping[str, Any]) -> list[str]:
    """Ids merged into this record (`hs_merged_object_ids`, `;`-separated): they no longer exist."""
    props = raw.get("properties")
    value = props.get("hs_merged_object_ids") if isinstance(props, Mapping) else None
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(";") if part.strip()]


def map_record(
    hubspot_type: str,
    raw: Any,
    *,
    custom: Mapping[str, PropertyDefinition],
    parents: Mapping[str, str | None],
) -> dict[str, Any]:
    """One HubSpot record -> a canonical record; MappingError when a value has the wrong shape."""
    external_id = record_id(raw)
    props = raw.get("properties") or {}
    if not isinstance(props, Mapping):
        raise MappingError("properties is not an object", field="properties")
    record: dict[str, Any] = {"external_id": external_id}
    modified = parse_time(props.get(modified_property(hubspot_type)), field=modified_property(hubspot_type))
    record["remote_updated_at"] = modified or parse_time(raw.get("updatedAt"), field="updatedAt")
    if hubspot_type == "contacts":
        record.update(_contact(props))
    elif hubspot_type == "companies":
        record.update(_company(props, external_id))
    elif hubspot_type == "deals":
        record.update(_deal(props, external_id))
    elif hubspot_type in ENGAGEMENT_KINDS:
        record.update(_engagement(hubspot_type, props, raw))
    else:
        raise MappingError(f"unknown HubSpot object type {hubspot_type!r}")
    extra: dict[str, Any] = {}
    for name, definition in custom.items():
        value = props.get(name)
        if value is None or value == "":
            continue
        typed = typed_value(definition, value)
        if typed is not None:
            extra[name] = typed
    record["properties"] = extra
    record.update(parents)
    return record


def _contact(props: Mapping[str, Any]) -> dict[str, Any]:
    stage = _text(props, "lifecyclestage")
    return {
        "first_name": _text(props, "firstname"),
        "last_name": _text(props, "lastname"),
        "email": _text(props, "email").strip(),
        "phone": _text(props, "phone"),
        "job_title": _text(props, "jobtitle"),
        "lead_source": _text(props, "hs_analytics_source"),
        "lead_status": _text(props, "hs_lead_status"),
        # Custom stages are portal-specific ids: "other" rather than a rejected record.
        "lifecycle_stage": LIFECYCLE_STAGES.get(stage, "other") if stage else "",
        "opted_out": bool(_bool(props, "hs_email_optout")),
        "remote_created_at": parse_time(props.get("createdate"), field="createdate"),
        "converted_at": parse_time(
            props.get("hs_lifecyclestage_customer_date"), field="hs_lifecyclestage_customer_date"
        ),
    }


def _company(props: Mapping[str, Any], external_id: str) -> dict[str, Any]:
    name = _text(props, "name").strip() or _text(props, "domain").strip() or f"HubSpot company {external_id}"
    return {
        "name": name,
        "domain": _text(props, "domain"),
        "industry": _text(props, "industry"),
        "employee_count": _text(props, "numberofemployees") or None,
        "annual_revenue": _text(props, "annualrevenue") or None,
        "country": _text(props, "country"),
        "city": _text(props, "city"),
    }


def _deal(props: Mapping[str, Any], external_id: str) -> dict[str, Any]:
    stage = _text(props, "dealstage")
    won, closed = _bool(props, "hs_is_closed_won"), _bool(props, "hs_is_closed")
    if won is None and closed is None:  # older portals: only the default pipeline's stage ids say it
        won, closed = stage == "closedwon", stage in ("closedwon", "closedlost")
    status = "won" if won else "lost" if closed else "open"
    close = parse_time(props.get("closedate"), field="closedate")
    record = {
        "name": _text(props, "dealname").strip() or f"HubSpot deal {external_id}",
        "amount": _text(props, "amount") or None,
        "currency": _text(props, "deal_currency_code"),
        "pipeline": _text(props, "pipeline"),
        "stage": stage,
        "status": status,
        "close_date": close.date() if close else None,
        "remote_created_at": parse_time(props.get("createdate"), field="createdate"),
        # An owner id: the connector swaps it for the owner's email (GET /crm/v3/owners).
        OWNER_ID_KEY: _text(props, "hubspot_owner_id").strip(),
    }
    # On a closed deal HubSpot's close date is when it closed; without one the history's status change says when.
    if status == "open" or close is not None:
        record["closed_at"] = close if status != "open" else None
    return record


def _engagement(hubspot_type: str, props: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    occurred = parse_time(props.get("hs_timestamp"), field="hs_timestamp") or parse_time(
        props.get("createdate") or raw.get("createdAt"), field="createdate"
    )
    if occurred is None:
        raise MappingError("engagement without hs_timestamp or createdate", field="hs_timestamp")
    direction = ""
    if hubspot_type == "emails":
        direction = _DIRECTIONS.get(_text(props, "hs_email_direction"), "")
    elif hubspot_type == "calls":
        direction = _DIRECTIONS.get(_text(props, "hs_call_direction"), "")
    return {
        "kind": ENGAGEMENT_KINDS[hubspot_type],
        "direction": direction,
        "subject": _text(props, _SUBJECT[hubspot_type])[:500] if hubspot_type in _SUBJECT else "",
        "body": _text(props, _BODY[hubspot_type]),
        "occurred_at": occurred,
    }


def owners_by_id(results: list[Any]) -> dict[str, str]:
    """owner id -> email from a page of GET /crm/v3/owners (owners without an email are left out)."""
    owners: dict[str, str] = {}
    for item in results:
        if isinstance(item, Mapping) and item.get("id") is not None and isinstance(item.get("email"), str):
            owners[str(item["id"])] = item["email"].strip().lower()
    return owners


def pipeline_stages(results: list[Any]) -> list[tuple[str, str, int, float | None, bool, bool]]:
    """(pipeline id, stage id, order, probability, closed, won) from GET /crm/v3/pipelines/deals: deals carry the
    ids. A closed stage with probability 1 is the won one (HubSpot's own convention for closedwon)."""
    stages = []
    for pipeline in results:
        if not isinstance(pipeline, Mapping) or pipeline.get("archived"):
            continue
        for stage in pipeline.get("stages") or []:
            if not isinstance(stage, Mapping) or stage.get("archived") or not stage.get("id"):
                continue
            metadata = stage.get("metadata") if isinstance(stage.get("metadata"), Mapping) else {}
            try:
                probability = float(metadata["probability"]) if metadata.get("probability") not in (None, "") else None
            except (TypeError, ValueError):
                probability = None
            closed = str(metadata.get("isClosed", "")).lower() == "true"
            stages.append(
                (
                    str(pipeline.get("id")),
                    str(stage["id"]),
                    int(stage.get("displayOrder") or 0),
                    probability,
                    closed,
                    closed and probability == 1.0,
                )
            )
    return stages


def history_values(raw: Mapping[str, Any]) -> list[tuple[str, str, dt.datetime]]:
    """(our field, raw value, when) for every value in a record's `propertiesWithHistory` we track; amounts and
    dates normalised as deal history stores them. Values of the wrong shape are skipped (history is a hint)."""
    history = raw.get("propertiesWithHistory")
    if not isinstance(history, Mapping):
        return []
    values = []
    for name, field in HISTORY_PROPERTIES.items():
        for item in history.get(name) or []:
            if not isinstance(item, Mapping):
                continue
            try:
                when = parse_time(item.get("timestamp"), field=name)
            except MappingError:
                continue
            value = item.get("value")
            if when is None or (value is not None and not isinstance(value, str)):
                continue
            value = (value or "").strip()
            if field == "close_date" and value:
                try:
                    parsed = parse_time(value, field=name)
                except MappingError:
                    continue
                value = parsed.date().isoformat() if parsed else ""
            elif field == "amount" and value:
                try:
                    value = str(Decimal(value).quantize(Decimal("0.01")))
                except InvalidOperation:
                    continue
            values.append((field, value, when))
    return values


UNRESOLVED = object()  # inline associations cannot tell: read them with v4 batch read


def inline_single_target(raw: Mapping[str, Any], to_type: str) -> str | None | object:
    """The parent id from a list record's inline associations when they settle it: None (no target), the
    one target's id, or UNRESOLVED (several targets, more pages, no or an unreadable block). The inline
    `type` strings are unspecified (CONTRACT.md 2.3), so a choice between several targets is never made
    here; one target listed twice (primary and unlabeled) is still one target."""
    associations = raw.get("associations")
    if not isinstance(associations, Mapping):
        return UNRESOLVED  # nothing inline at all: do not guess "no parent"
    block = associations.get(to_type)
    if block is None:
        return None  # the record has associations inline, none of this type
    if not isinstance(block, Mapping) or block.get("paging") or not isinstance(block.get("results"), list):
        return UNRESOLVED
    target_ids = set()
    for item in block["results"]:
        target = item.get("id") if isinstance(item, Mapping) else None
        if target in (None, ""):
            return UNRESOLVED
        target_ids.add(str(target))
    if len(target_ids) > 1:
        return UNRESOLVED
    return next(iter(target_ids), None)


def choose_parent(from_type: str, to_type: str, targets: list[tuple[str, set[int]]]) -> str | None:
    """The one parent a record points at: the primary association, else the lowest id (deterministic)."""
    if not targets:
        return None
    primary = PRIMARY_TYPE_IDS.get((from_type, to_type), frozenset())
    for target_id, type_ids in targets:
        if type_ids & primary:
            return target_id
    return min((target_id for target_id, _ in targets), key=lambda value: (len(value), value))
