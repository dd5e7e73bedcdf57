"""Salesforce records -> our canonical records (pure functions, no I/O).

SObjects per object type: Account -> companies; Contact and Lead -> contacts; Opportunity -> deals; Task and
Event -> activities. External ids are Salesforce's own 18-character ids: they are unique across the whole
org and their key prefix tells the SObject apart (Contact `003`, Lead `00Q`), so a Lead and a Contact never
clash and an activity's `WhoId` names either of them directly.

A converted Lead (`IsConverted`) stays as a contact row: it is the history of how the person was won
(lead source, created date) and `ConvertedDate` becomes its `converted_at`, the lead-scoring outcome. Its
`lifecycle_stage` is `opportunity` when the conversion created an opportunity, else `sql`; the Contact
Salesforce created from it is a separate row. The conversion's contact, account and opportunity ids are
kept in `properties` (`ConvertedContactId`...), not as links: a converted lead is read-only and would keep
pointing at an account deleted later. Leads have no company link (`Company` is free text, kept in properties).

Custom fields (`__c`) listed by the SObject's describe are kept in `properties` under their API name, typed
by the describe type; a value of the wrong type rejects that record (MappingError), never the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SOBJECTS: dict[str, tuple[str, ...]] = {
    "companies": ("Account",),
    "contacts": ("Contact", "Lead"),
    "deals": ("Opportunity",),
    "activities": ("Task", "Event"),
}

# Standard fields read per SObject (only those the org's describe lists are selected). `Owner.Email` is
# read through the OwnerId relationship.
STANDARD_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": (
        "Id",
        "Name",
        "Website",
        "Industry",
        "NumberOfEmployees",
        "AnnualRevenue",
        "BillingCountry",
        "BillingCity",
        "SystemModstamp",
    ),
    "Contact": (
        "Id",
        "AccountId",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "LeadSource",
        "HasOptedOutOfEmail",
        "OwnerId",
        "CreatedDate",
        "SystemModstamp",
    ),
    "Lead": (
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "Company",
        "LeadSource",
        "Status",
        "HasOptedOutOfEmail",
        "OwnerId",
        "IsConverted",
        "ConvertedDate",
        "ConvertedContactId",
        "ConvertedAccountId",
        "ConvertedOpportunityId",
        "CreatedDate",
        "SystemModstamp",
    ),
    "Opportunity": (
        "Id",
        "Name",
        "AccountId",
        "ContactId",
        "Amount",
        "CurrencyIsoCode",
        "StageName",
        "IsClosed",
        "IsWon",
        "CloseDate",
        "CreatedDate",
        "SystemModstamp",
        "OwnerId",
    ),
    "Task": (
        "Id",
        "Subject",
        "Description",
        "ActivityDate",
        "CompletedDateTime",
        "TaskSubtype",
        "CallType",
        "WhoId",
        "WhatId",
        "AccountId",
        "CreatedDate",
        "SystemModstamp",
    ),
    "Event": (
        "Id",
        "Subject",
        "Description",
        "StartDateTime",
        "ActivityDateTime",
        "ActivityDate",
        "WhoId",
        "WhatId",
        "AccountId",
        "CreatedDate",
        "SystemModstamp",
    ),
}
OWNER_EMAIL = "Owner.Email"

# Key prefixes of the ids a `WhatId` may hold that we keep as links.
ACCOUNT_PREFIX = "001"
OPPORTUNITY_PREFIX = "006"

# Describe types of custom fields we keep, and the JSON type each value must have.
_TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "email", "phone", "url", "id", "reference", "combobox", "encryptedstring"}
)
_NUMBER_TYPES = frozenset({"double", "currency", "percent"})
CUSTOM_FIELD_TYPES = _TEXT_TYPES | _NUMBER_TYPES | {"int", "boolean", "date", "datetime", "time", "multipicklist"}


class MappingError(ValueError):
    """One record cannot be mapped: `field` is the Salesforce field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class SObjectShape:
    """What the org's describe says about one SObject: the fields we select and the custom fields' types."""

    sobject: str
    fields: tuple[str, ...]  # for the SELECT list
    custom_types: dict[str, str]  # custom field API name -> describe type


def shape_from_describe(sobject: str, describe: Mapping[str, Any]) -> SObjectShape:
    """Pick the standard fields the org has plus every custom field of a type we can keep."""
    described = {field["name"]: field for field in describe.get("fields", []) if isinstance(field, Mapping)}
    fields = [name for name in STANDARD_FIELDS[sobject] if name in described]
    if "Id" not in fields or "SystemModstamp" not in fields:
        raise MappingError("describe", f"{sobject} describe lacks Id or SystemModstamp")
    if "OwnerId" in fields:
        fields[fields.index("OwnerId")] = OWNER_EMAIL
    custom_types = {
        name: str(field.get("type"))
        for name, field in described.items()
        if name.endswith("__c") and field.get("type") in CUSTOM_FIELD_TYPES
    }
    return SObjectShape(sobject, tuple(fields) + tuple(sorted(custom_types)), custom_types)


def record_map(shape: SObjectShape, raw: Mapping[str, Any]) -> dict[str, Any]:
    """One Salesforce record (a live one) -> a canonical record; MappingError when a value has the wrong type."""
    mapper = _MAPPERS[shape.sobject]
    record = mapper(_Reader(raw))
    record["external_id"] = _id(raw.get("Id"), "Id")
    record["remote_updated_at"] = _datetime(raw.get("SystemModstamp"), "SystemModstamp")
    properties = record.pop("properties", {})
    properties.update(custom_properties(shape.custom_types, raw))
    record["properties"] = properties
    return record


def custom_properties(custom_types: Mapping[str, str], raw: Mapping[str, Any]) -> dict[str, Any]:
    properties = {}
    for name, kind in custom_types.items():
        if name in raw:
            properties[name] = _typed(name, kind, raw[name])
    return properties


def website_domain(website: str | None) -> str:
    """`https://www.Acme.com/about` -> `acme.com`."""
    if not website:
        return ""
    text = website.strip()
    host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.").lower()


# --- per-SObject mappers --------------------------------------------------------------------------------


class _Reader:
    """Typed access to a raw record; only fields present in it end up in the canonical record."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str) -> str:
        value = self.raw.get(name)
        if value is None:
            return ""
        if type(value) is not str:
            raise MappingError(name, f"expected text, got {type(value).__name__}")
        return value

    def reference(self, name: str) -> str | None:
        return self.text(name) or None

    def boolean(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None:
            return False
        if type(value) is not bool:
            raise MappingError(name, f"expected true/false, got {value!r}")
        return value

    def number(self, name: str) -> int | float | None:
        return _number(self.raw.get(name), name)

    def date(self, name: str) -> str | None:
        return _date(self.raw.get(name), name)

    def datetime(self, name: str) -> str | None:
        return _datetime(self.raw.get(name), name)

    def owner_email(self) -> str:
        owner = self.raw.get("Owner")
        if owner is None:
            return ""
        if not isinstance(owner, Mapping):
            raise MappingError(OWNER_EMAIL, f"expected a related record, got {type(owner).__name__}")
        email = owner.get("Email")
        if email is not None and type(email) is not str:
            raise MappingError(OWNER_EMAIL, f"expected text, got {type(email).__name__}")
        return email or ""

    def put(self, record: dict[str, Any], key: str, name: str, value: Any) -> None:
        if name in self.raw:
            record[key] = value


def _account(r: _Reader) -> dict[str, Any]:
    record: dict[str, Any] = {"name": r.text("Name")}
    r.put(record, "domain", "Website", website_domain(r.text("Website")))
    r.put(record, "industry", "Industry", r.text("Industry"))
    r.put(record, "employee_count", "NumberOfEmployees", r.number("NumberOfEmployees"))
    r.put(record, "annual_revenue", "AnnualRevenue", r.number("AnnualRevenue"))
    r.put(record, "country", "BillingCountry", r.text("BillingCountry"))
    r.put(record, "city", "BillingCity", r.text("BillingCity"))
    return record


def _person(r: _Reader) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, name in (
        ("first_name", "FirstName"),
        ("last_name", "LastName"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("job_title", "Title"),
        ("lead_source", "LeadSource"),
    ):
        r.put(record, key, name, r.text(name))
    r.put(record, "opted_out", "HasOptedOutOfEmail", r.boolean("HasOptedOutOfEmail"))
    r.put(record, "remote_created_at", "CreatedDate", r.datetime("CreatedDate"))
    r.put(record, "owner_email", "Owner", r.owner_email())
    return record


def _contact(r: _Reader) -> dict[str, Any]:
    record = _person(r)
    r.put(record, "company_external_id", "AccountId", r.reference("AccountId"))
    return record


def _lead(r: _Reader) -> dict[str, Any]:
    record = _person(r)
    r.put(record, "lead_status", "Status", r.text("Status"))
    properties: dict[str, Any] = {}
    if r.has("Company"):
        properties["Company"] = r.text("Company")
    converted = r.boolean("IsConverted")
    if converted:
        converted_date = r.date("ConvertedDate")
        # ConvertedDate is a date: the conversion is placed at midnight UTC of that day.
        record["converted_at"] = f"{converted_date}T00:00:00+00:00" if converted_date else None
        record["lifecycle_stage"] = "opportunity" if r.reference("ConvertedOpportunityId") else "sql"
        # Not linked as its company: the account may be deleted later while this read-only lead stays,
        # which would reject the lead on every full sync. The id is kept in properties.
        for name in ("ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId"):
            properties[name] = r.reference(name)
    else:
        record["lifecycle_stage"] = "lead"
        record["converted_at"] = None
    record["properties"] = properties
    return record


def _opportunity(r: _Reader) -> dict[str, Any]:
    record: dict[str, Any] = {"name": r.text("Name")}
    r.put(record, "company_external_id", "AccountId", r.reference("AccountId"))
    r.put(record, "contact_external_id", "ContactId", r.reference("ContactId"))
    r.put(record, "amount", "Amount", r.number("Amount"))
    r.put(record, "currency", "CurrencyIsoCode", r.text("CurrencyIsoCode"))
    r.put(record, "stage", "StageName", r.text("StageName"))
    r.put(record, "close_date", "CloseDate", r.date("CloseDate"))
    r.put(record, "remote_created_at", "CreatedDate", r.datetime("CreatedDate"))
    r.put(record, "owner_email", "Owner", r.owner_email())
    if r.has("IsClosed"):
        closed, won = r.boolean("IsClosed"), r.boolean("IsWon")
        record["status"] = ("won" if won else "lost") if closed else "open"
        # A closed opportunity's CloseDate is the day it closed (Salesforce keeps no close time); without one the
        # deal history's status change says when.
        closed_on = _date_at_midnight(r.date("CloseDate")) if closed and r.has("CloseDate") else None
        if closed_on or not closed:
            record["closed_at"] = closed_on
    return record


# The deal-history backfill: OpportunityStage (stage probabilities) and OpportunityHistory (a snapshot of stage,
# amount and close date at every change, in CreatedDate order).
STAGE_SOQL = (
    "SELECT ApiName, MasterLabel, DefaultProbability, IsClosed, IsWon, IsActive, SortOrder "
    "FROM OpportunityStage ORDER BY SortOrder"
)
HISTORY_FIELDS = "OpportunityId, StageName, Amount, CloseDate, CreatedDate"
_HISTORY_COLUMNS = (("StageName", "stage"), ("Amount", "amount"), ("CloseDate", "close_date"))


def opportunity_stages(rows: list[Mapping[str, Any]]) -> list[tuple[str, str, int, float | None, bool, bool]]:
    """(pipeline "", stage, order, probability 0..1, closed, won): Salesforce has one stage list, whose
    picklist value (ApiName, else MasterLabel) is what Opportunity.StageName holds; DefaultProbability is a
    percent."""
    stages = []
    for order, row in enumerate(rows):
        name = row.get("ApiName") or row.get("MasterLabel")
        if not isinstance(name, str) or not name or row.get("IsActive") is False:
            continue
        percent = row.get("DefaultProbability")
        probability = float(percent) / 100 if isinstance(percent, int | float) and 0 <= percent <= 100 else None
        sort_order = row.get("SortOrder")
        closed = row.get("IsClosed") is True
        stages.append(
            (
                "",
                name,
                sort_order if isinstance(sort_order, int) else order,
                probability,
                closed,
                row.get("IsWon") is True,
            )
        )
    return stages


def history_values(row: Mapping[str, Any]) -> list[tuple[str, str, dt.datetime]]:
    """(our field, value as deal history stores it, when) from one OpportunityHistory row; [] when the row has no
    readable time. A value of the wrong type is left out (history is a hint, never a reason to fail)."""
    created = row.get("CreatedDate")
    when = parse_datetime(created) if isinstance(created, str) else None
    if when is None:
        return []
    values = []
    for column, field in _HISTORY_COLUMNS:
        value = row.get(column)
        if value is None:
            text = ""
        elif field == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
            text = f"{value:.2f}"
        elif field == "close_date" and isinstance(value, str):
            try:
                text = dt.date.fromisoformat(value[:10]).isoformat()
            except ValueError:
                continue
        elif field == "stage" and isinstance(value, str):
            text = value
        else:
            continue
        values.append((field, text, when))
    return values


_TASK_KINDS = {"call": "call", "email": "email", "listemail": "email"}


def _task(r: _Reader) -> dict[str, Any]:
    subtype = r.text("TaskSubtype")
    kind = _TASK_KINDS.get(subtype.lower(), "task")
    record = _activity_common(r, kind)
    occurred = r.datetime("CompletedDateTime") or _date_at_midnight(r.date("ActivityDate"))
    record["occurred_at"] = occurred or r.datetime("CreatedDate")
    call_type = r.text("CallType").lower()
    if call_type in ("inbound", "outbound"):
        record["direction"] = call_type
    elif kind == "email":
        record["direction"] = "outbound"  # Salesforce logs the emails reps send (TaskSubtype Email/ListEmail)
    return record


def _event(r: _Reader) -> dict[str, Any]:
    record = _activity_common(r, "meeting")
    occurred = r.datetime("StartDateTime") or r.datetime("ActivityDateTime")
    record["occurred_at"] = occurred or _date_at_midnight(r.date("ActivityDate")) or r.datetime("CreatedDate")
    return record


def _activity_common(r: _Reader, kind: str) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": kind, "subject": r.text("Subject"), "body": r.text("Description")}
    record["contact_external_id"] = r.reference("WhoId")
    what = r.reference("WhatId")
    record["company_external_id"] = what if what and what.startswith(ACCOUNT_PREFIX) else r.reference("AccountId")
    record["deal_external_id"] = what if what and what.startswith(OPPORTUNITY_PREFIX) else None
    properties = {}
    if what and not what.startswith((ACCOUNT_PREFIX, OPPORTUNITY_PREFIX)):
        properties["WhatId"] = what  # a case, a custom object...: kept, not linked
    record["properties"] = properties
    return record


_MAPPERS = {
    "Account": _account,
    "Contact": _contact,
    "Lead": _lead,
    "Opportunity": _opportunity,
    "Task": _task,
    "Event": _event,
}


# --- values ---------------------------------------------------------------------------------------------


def _id(value: Any, name: str) -> str:
    if type(value) is not str or not value:
        raise MappingError(name, f"expected a record id, got {value!r}")
    return value


def _number(value: Any, name: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MappingError(name, f"expected a number, got {value!r}")
    return value


def _date(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise MappingError(name, f"expected a date, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise MappingError(name, f"{value!r} is not a date") from None


def _datetime(value: Any, name: str) -> str | None:
    """Salesforce writes `2024-05-01T12:00:00.000+0000`; returned as ISO 8601 in UTC."""
    if value is None:
        return None
    if type(value) is not str:
        raise MappingError(name, f"expected a date-time, got {type(value).__name__}")
    parsed = parse_datetime(value)
    if parsed is None:
        raise MappingError(name, f"{value!r} is not a date-time")
    return parsed.isoformat()


def parse_datetime(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _date_at_midnight(date: str | None) -> str | None:
    return f"{date}T00:00:00+00:00" if date else None


def _typed(name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in _TEXT_TYPES or kind == "time":
        if type(value) is not str:
            raise MappingError(name, f"expected text ({kind}), got {type(value).__name__}")
        return value
    if kind in _NUMBER_TYPES:
        return _number(value, name)
    if kind == "int":
        if type(value) is float and value.is_integer():
            return int(value)
        if type(value) is not int:
            raise MappingError(name, f"expected a whole number, got {value!r}")
        return value
    if kind == "boolean":
        if type(value) is not bool:
            raise MappingError(name, f"expected true/false, got {value!r}")
        return value
    if kind == "date":
        return _date(value, name)
    if kind == "datetime":
        return _datetime(value, name)
    if kind == "multipicklist":
        if type(value) is not str:
            raise MappingError(name, f"expected text (multipicklist), got {type(value).__name__}")
        return [item for item in value.split(";") if item]
    raise MappingError(name, f"unsupported field type {kind!r}")  # pragma: no cover - filtered by the describe
