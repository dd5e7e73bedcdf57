"""Point-in-time lead features: one row per (contact, as-of time), built only from what was known before it.

A training row is (contact, snapshot S) for contacts created before S and not converted at S. Its features
use activities with occurred_at < S, deals created before S (open at S), and contact/company attributes;
its label is "converted in (S, S + horizon]". Scoring uses the same code with as_of = now, so training
and serving features cannot drift apart.

Fields deliberately NOT used as features (see EXCLUDED_FIELDS): they move with, or after, the outcome.
Contact and company attributes have no history in the CRM copy, so their current values stand in for the
values at S; fields that change because of the sale are excluded for exactly that reason.

With `text=True` the frames also carry the contact's activity text as embeddings (ml.features.text
LEAD_TEXT_COLUMNS, same point-in-time rule), which the Transformer reads as text tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import Max, Min, QuerySet

from ml.engine.schema import ColumnSpec, TableSchema
from salesai.core.models import Activity, Company, Contact, Deal
from salesai.core.selectors import contacts_not_erased

HORIZON_DAYS_DEFAULT = 90
SNAPSHOT_COUNT = 6  # monthly snapshots ending `horizon` before the latest data
SNAPSHOT_SPACING_DAYS = 30
WINDOWS_DAYS = (7, 30, 90)
PROPERTY_PREFIX = "prop__"
TEXT_PREFIX = "text_"  # the activity-text embedding columns (ml.features.text.LEAD_TEXT_COLUMNS)
PROPERTY_LIMIT = 5  # custom CRM fields kept, best coverage first
PROPERTY_MIN_COVERAGE = 0.2
_IN_CHUNK = 900  # ids per SQL IN (...) list, under SQLite's variable limit

EXCLUDED_FIELDS: dict[str, str] = {
    "lifecycle_stage": "set to 'customer' (or 'opportunity') as the lead converts: it encodes the label",
    "lead_status": "updated by reps as the lead progresses (qualified, won...): leaks the outcome",
    "converted_at": "the label itself",
    "deal status / stage": "records whether the sale happened; only 'open at the snapshot' is used",
    "opted_out": "no timestamp, so it may have been set after the snapshot",
    "names, email local part, phone, owner, external ids": "identifiers: memorise people, carry no general signal",
    "custom fields about status, stage, lifecycle, conversion, customer, won/lost, churn or dates": "likely written when (or after) the outcome happens; dates have no point-in-time history",
}
_LEAKY_PROPERTY = re.compile(r"lifecycle|status|stage|convert|customer|won|lost|closed|churn|became|date|_at$", re.I)
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")

ENGAGEMENT_BUCKETS: tuple[tuple[str, str, str | None, str], ...] = (
    # (column prefix, activity kind, direction or None for any, plain words)
    ("email_inbound", Activity.Kind.EMAIL, Activity.Direction.INBOUND, "Inbound emails"),
    ("email_outbound", Activity.Kind.EMAIL, Activity.Direction.OUTBOUND, "Outbound emails"),
    ("call_inbound", Activity.Kind.CALL, Activity.Direction.INBOUND, "Inbound calls"),
    ("call_outbound", Activity.Kind.CALL, Activity.Direction.OUTBOUND, "Outbound calls"),
    ("meetings", Activity.Kind.MEETING, None, "Meetings"),
    ("notes", Activity.Kind.NOTE, None, "Notes"),
    ("tasks", Activity.Kind.TASK, None, "Tasks"),
)

BASE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("lead_source", "categorical", "Lead source"),
    ColumnSpec("title_seniority", "categorical", "Seniority (from job title)"),
    ColumnSpec("title_function", "categorical", "Function (from job title)"),
    ColumnSpec("job_title", "categorical", "Job title"),
    ColumnSpec("email_domain_type", "categorical", "Email domain"),
    ColumnSpec("company_country", "categorical", "Company country"),
    ColumnSpec("company_industry", "categorical", "Industry"),
    # Related numbers share a net token (`group`): same information, a shorter sequence, faster training.
    ColumnSpec("company_employee_count", "numeric", "Company employees", "company_size"),
    ColumnSpec("company_annual_revenue", "numeric", "Company annual revenue", "company_size"),
    ColumnSpec("days_since_created", "numeric", "Days since contact was created"),
    ColumnSpec("days_since_last_activity", "numeric", "Days since last activity", "recency"),
    ColumnSpec("days_since_last_inbound", "numeric", "Days since last inbound activity", "recency"),
    ColumnSpec("days_since_last_outbound", "numeric", "Days since last outbound activity", "recency"),
    ColumnSpec("open_deals", "numeric", "Open deals", "open_deals"),
    ColumnSpec("open_deal_amount", "numeric", "Open deal amount", "open_deals"),
    *(
        ColumnSpec(f"{prefix}_{days}d", "numeric", f"{words} ({days} days)", prefix)
        for prefix, _kind, _direction, words in ENGAGEMENT_BUCKETS
        for days in WINDOWS_DAYS
    ),
)

FREE_EMAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "yandex.com",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "t-online.de",
        "free.fr",
        "orange.fr",
        "libero.it",
    ]
)
# Bucket names are shown to managers as reasons ("Seniority (from job title) = C-level"): plain words.
_SENIORITY_RULES = (  # first match wins: "Vice President" must not read as "President"
    ("VP", re.compile(r"\b(vp|svp|evp|vice president)\b")),
    ("C-level", re.compile(r"\b(ceo|cto|cfo|coo|cmo|cio|cro|chief|founder|co-founder|owner|president|partner)\b")),
    ("Director", re.compile(r"\b(director|head)\b")),
    ("Manager", re.compile(r"\b(manager|lead|supervisor|principal)\b")),
)
_FUNCTION_RULES = (
    ("Sales", re.compile(r"\b(sales|account executive|account manager|business development|bdr|sdr|revenue|cro)\b")),
    ("Marketing", re.compile(r"\b(marketing|cmo|growth|brand|demand generation|content)\b")),
    ("Finance", re.compile(r"\b(finance|financial|cfo|accounting|accountant|controller|treasurer)\b")),
    ("Engineering", re.compile(r"\b(engineer\w*|developer|cto|cio|software|technical|technology|it|devops|data)\b")),
    ("Operations", re.compile(r"\b(operations|ops|coo|logistics|supply chain|procurement)\b")),
    ("People", re.compile(r"\b(hr|human resources|people|talent|recruit\w*)\b")),
    ("Product", re.compile(r"\b(product)\b")),
    ("Customer success", re.compile(r"\b(customer success|support|service)\b")),
    ("Executive", re.compile(r"\b(ceo|founder|co-founder|owner|president|managing director|general manager)\b")),
)


# --- public API ---------------------------------------------------------------------------------------------
def lead_feature_frame(
    *,
    organization_id: int,
    as_of: datetime,
    contact_ids: list[int] | None = None,
    property_keys: list[str] | None = None,
) -> pd.DataFrame:
    """Features of contacts as known just before `as_of` (index = contact id, plus an `as_of` column).

    Without `contact_ids`: every non-deleted contact created before `as_of`. With them: exactly those
    (non-deleted, in this organisation). `property_keys` picks the custom CRM fields to include (a trained
    model passes its own); None infers them from the data.
    """
    _require_aware(as_of)
    tables = _tables_load(organization_id=organization_id, until=as_of, contact_ids=contact_ids)
    contacts = tables.contacts
    if contact_ids is None:
        contacts = contacts[contacts["created"] < as_of]
    if property_keys is None:
        property_keys = _property_keys_infer(contacts["properties"])
    return _features_at(tables, contacts=contacts, as_of=as_of, property_keys=property_keys)


def lead_training_frame(
    *,
    organization_id: int,
    snapshots: list[datetime] | None = None,
    horizon_days: int = HORIZON_DAYS_DEFAULT,
    text: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:
    """Rows (contact, snapshot) with point-in-time features and label "converted within `horizon_days`
    after the snapshot". The frame's index is the contact id (repeated across snapshots), its `as_of`
    column the snapshot; the labels Series (0/1, named "converted") has the same order and index.
    `text` adds the activity-text embedding columns (each as of its row's snapshot).
    """
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    if snapshots is None:
        snapshots = lead_default_snapshots(organization_id=organization_id, horizon_days=horizon_days)
    for snapshot in snapshots:
        _require_aware(snapshot)
    if not snapshots:
        return _empty_frame(), pd.Series([], dtype=np.int64, name="converted")
    tables = _tables_load(organization_id=organization_id, until=max(snapshots), contact_ids=None)
    candidates = tables.contacts
    property_keys = _property_keys_infer(candidates[candidates["created"] < max(snapshots)]["properties"])
    horizon = timedelta(days=horizon_days)
    frames, labels = [], []
    for snapshot in sorted(snapshots):
        converted = candidates["converted_at"]
        eligible = candidates[(candidates["created"] < snapshot) & (converted.isna() | (converted > snapshot))]
        if eligible.empty:
            continue
        frames.append(_features_at(tables, contacts=eligible, as_of=snapshot, property_keys=property_keys))
        outcome = eligible["converted_at"]
        labels.append(((outcome > snapshot) & (outcome <= snapshot + horizon)).astype(np.int64))
    if not frames:
        return _empty_frame(), pd.Series([], dtype=np.int64, name="converted")
    if text:
        from ml.features.text import lead_text_columns_at  # torch-backed: only when text is asked for

        columns = lead_text_columns_at(
            organization_id=organization_id,
            contact_ids_at=[(part["as_of"].iloc[0].to_pydatetime(), [int(i) for i in part.index]) for part in frames],
        )
        frames = [part.join(extra) for part, extra in zip(frames, columns, strict=True)]
    frame = pd.concat(frames)
    label_series = pd.concat(labels).rename("converted")
    label_series.index = frame.index
    return frame, label_series


def lead_default_snapshots(*, organization_id: int, horizon_days: int = HORIZON_DAYS_DEFAULT) -> list[datetime]:
    """Monthly snapshots, newest `horizon_days` before the latest data (so every label is fully observed),
    older ones while contacts existed."""
    latest, earliest = _data_span(organization_id=organization_id)
    if latest is None or earliest is None:
        return []
    newest = latest - timedelta(days=horizon_days)
    snapshots = [newest - timedelta(days=SNAPSHOT_SPACING_DAYS * k) for k in range(SNAPSHOT_COUNT)]
    return sorted(s for s in snapshots if s > earliest)


def lead_schema(frame: pd.DataFrame) -> TableSchema:
    """The schema of a lead frame: the fixed columns plus whichever custom CRM fields it carries."""
    columns = list(BASE_COLUMNS)
    if any(isinstance(name, str) and name.startswith(TEXT_PREFIX) for name in frame.columns):
        from ml.features.text import LEAD_TEXT_COLUMNS

        columns += [spec for spec in LEAD_TEXT_COLUMNS if spec.name in frame.columns]
    for name in frame.columns:
        if isinstance(name, str) and name.startswith(PROPERTY_PREFIX):
            kind = "numeric" if pd.api.types.is_numeric_dtype(frame[name].dtype) else "categorical"
            key = name.removeprefix(PROPERTY_PREFIX)
            columns.append(ColumnSpec(name, kind, f"{key.replace('_', ' ').strip().capitalize()} (CRM field)"))
    return TableSchema(columns=tuple(columns))


def lead_property_keys(schema: TableSchema) -> list[str]:
    """The custom CRM fields a schema was trained with, for `lead_feature_frame(property_keys=...)`."""
    return [c.name.removeprefix(PROPERTY_PREFIX) for c in schema.columns if c.name.startswith(PROPERTY_PREFIX)]


def title_seniority(title: str | None) -> str | None:
    text = _normalise_title(title)
    if not text:
        return None
    return next((bucket for bucket, rule in _SENIORITY_RULES if rule.search(text)), "Individual contributor")


def title_function(title: str | None) -> str | None:
    text = _normalise_title(title)
    if not text:
        return None
    return next((bucket for bucket, rule in _FUNCTION_RULES if rule.search(text)), "Other")


def email_domain_type(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return "Free webmail" if email.rsplit("@", 1)[1].strip().lower() in FREE_EMAIL_DOMAINS else "Corporate"


# --- loading ------------------------------------------------------------------------------------------------
@dataclass
class _Tables:
    contacts: pd.DataFrame  # one row per contact, indexed by id, with company attributes merged in
    activities: pd.DataFrame  # contact_id, kind, direction, occurred_at (before `until`)
    deals: pd.DataFrame  # contact_id, amount, created, closed_on (only for deals that closed)


def _tables_load(*, organization_id: int, until: datetime, contact_ids: list[int] | None) -> _Tables:
    contact_rows = _rows(
        contacts_not_erased(Contact.objects.filter(organization_id=organization_id, deleted_at__isnull=True)),
        (
            "id",
            "company_id",
            "job_title",
            "lead_source",
            "email",
            "properties",
            "remote_created_at",
            "created_at",
            "converted_at",
        ),
        "id",
        contact_ids,
    )
    contacts = pd.DataFrame(
        contact_rows,
        columns=[
            "id",
            "company_id",
            "job_title",
            "lead_source",
            "email",
            "properties",
            "remote_created_at",
            "created_at",
            "converted_at",
        ],
    )
    contacts["created"] = _utc(contacts["remote_created_at"]).fillna(_utc(contacts["created_at"]))
    contacts["converted_at"] = _utc(contacts["converted_at"])
    company_ids = sorted({int(c) for c in contacts["company_id"].dropna()})
    companies = pd.DataFrame(
        _rows(
            Company.objects.filter(organization_id=organization_id),
            ("id", "industry", "employee_count", "annual_revenue", "country"),
            "id",
            company_ids,
        ),
        columns=[
            "company_id",
            "company_industry",
            "company_employee_count",
            "company_annual_revenue",
            "company_country",
        ],
    )
    contacts["company_id"] = pd.to_numeric(contacts["company_id"], errors="coerce").astype(float)
    companies["company_id"] = pd.to_numeric(companies["company_id"], errors="coerce").astype(float)
    contacts = contacts.merge(companies, on="company_id", how="left").set_index("id").sort_index()
    contacts.index.name = "contact_id"

    ids = None if contact_ids is None else [int(i) for i in contacts.index]
    activities = pd.DataFrame(
        _rows(
            Activity.objects.filter(
                organization_id=organization_id,
                deleted_at__isnull=True,
                contact_id__isnull=False,
                occurred_at__lt=until,
            ),
            ("contact_id", "kind", "direction", "occurred_at"),
            "contact_id",
            ids,
        ),
        columns=["contact_id", "kind", "direction", "occurred_at"],
    )
    activities["occurred_at"] = _utc(activities["occurred_at"])
    deals = pd.DataFrame(
        _rows(
            Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True, contact_id__isnull=False),
            ("contact_id", "amount", "status", "close_date", "remote_created_at", "created_at"),
            "contact_id",
            ids,
        ),
        columns=["contact_id", "amount", "status", "close_date", "remote_created_at", "created_at"],
    )
    deals["created"] = _utc(deals["remote_created_at"]).fillna(_utc(deals["created_at"]))
    deals["amount"] = pd.to_numeric(deals["amount"].astype(object), errors="coerce").astype(float)
    # Only the close date of a deal that did close matters: before it the deal was open. The outcome
    # (won or lost) is never read.
    closed = deals["status"].isin([Deal.Status.WON, Deal.Status.LOST]) & deals["close_date"].notna()
    deals["closed_on"] = _utc(deals["close_date"].where(closed).astype(object))
    return _Tables(contacts=contacts, activities=activities, deals=deals)


def _rows(queryset: QuerySet, fields: Sequence[str], id_field: str, ids: Iterable[int] | None) -> list[tuple]:
    if ids is None:
        return list(queryset.values_list(*fields).iterator(chunk_size=5000))
    ids = list(ids)
    rows: list[tuple] = []
    for start in range(0, len(ids), _IN_CHUNK):
        rows.extend(queryset.filter(**{f"{id_field}__in": ids[start : start + _IN_CHUNK]}).values_list(*fields))
    return rows


def _data_span(*, organization_id: int) -> tuple[datetime | None, datetime | None]:
    """(latest moment anything happened, earliest contact creation) in this organisation."""
    contacts = Contact.objects.filter(organization_id=organization_id, deleted_at__isnull=True)
    spans = contacts.aggregate(
        remote_first=Min("remote_created_at"),
        local_first=Min("created_at"),
        remote_last=Max("remote_created_at"),
        local_last=Max("created_at"),
        converted_last=Max("converted_at"),
    )
    activity_last = Activity.objects.filter(organization_id=organization_id, deleted_at__isnull=True).aggregate(
        last=Max("occurred_at")
    )["last"]
    remote_first = spans["remote_first"]
    earliest = remote_first if remote_first is not None else spans["local_first"]
    # created_at is the sync time; it only describes the data when the CRM gave no creation time.
    created_last = spans["remote_last"] if spans["remote_last"] is not None else spans["local_last"]
    candidates = [m for m in (created_last, spans["converted_last"], activity_last) if m is not None]
    return (max(candidates) if candidates else None), earliest


# --- features at one moment ---------------------------------------------------------------------------------
def _features_at(tables: _Tables, *, contacts: pd.DataFrame, as_of: datetime, property_keys: list[str]) -> pd.DataFrame:
    as_of_ts = pd.Timestamp(as_of).tz_convert("UTC")
    frame = pd.DataFrame(index=contacts.index.copy())
    frame["lead_source"] = _text(contacts["lead_source"])
    frame["title_seniority"] = contacts["job_title"].map(title_seniority).astype(object)
    frame["title_function"] = contacts["job_title"].map(title_function).astype(object)
    frame["job_title"] = contacts["job_title"].map(lambda title: _normalise_title(title) or None).astype(object)
    frame["email_domain_type"] = contacts["email"].map(email_domain_type).astype(object)
    frame["company_country"] = _text(contacts["company_country"])
    frame["company_industry"] = _text(contacts["company_industry"])
    frame["company_employee_count"] = pd.to_numeric(contacts["company_employee_count"], errors="coerce").astype(float)
    frame["company_annual_revenue"] = pd.to_numeric(
        contacts["company_annual_revenue"].astype(object), errors="coerce"
    ).astype(float)
    frame["days_since_created"] = ((as_of_ts - contacts["created"]).dt.total_seconds() / 86_400).clip(lower=0)

    activities = tables.activities
    activities = activities[(activities["occurred_at"] < as_of_ts) & activities["contact_id"].isin(frame.index)]
    age_days = (as_of_ts - activities["occurred_at"]).dt.total_seconds() / 86_400
    frame["days_since_last_activity"] = age_days.groupby(activities["contact_id"]).min().reindex(frame.index)
    for direction in (Activity.Direction.INBOUND, Activity.Direction.OUTBOUND):
        mask = activities["direction"] == direction
        last = age_days[mask].groupby(activities.loc[mask, "contact_id"]).min()
        frame[f"days_since_last_{direction}"] = last.reindex(frame.index)

    deals = tables.deals
    open_deals = deals[
        deals["contact_id"].isin(frame.index)
        & (deals["created"] < as_of_ts)
        & ~(deals["closed_on"].notna() & (deals["closed_on"] < as_of_ts.normalize()))
    ]
    frame["open_deals"] = open_deals.groupby("contact_id").size().reindex(frame.index, fill_value=0).astype(float)
    frame["open_deal_amount"] = (
        open_deals.groupby("contact_id")["amount"].sum(min_count=0).reindex(frame.index, fill_value=0.0).astype(float)
    )

    for prefix, kind, direction, _words in ENGAGEMENT_BUCKETS:
        mask = activities["kind"] == kind
        if direction is not None:
            mask &= activities["direction"] == direction
        for days in WINDOWS_DAYS:
            in_window = mask & (age_days <= days)
            counts = activities.loc[in_window, "contact_id"].value_counts()
            frame[f"{prefix}_{days}d"] = counts.reindex(frame.index, fill_value=0).astype(float)

    for key in property_keys:
        frame[PROPERTY_PREFIX + key] = _property_column(contacts["properties"], key)
    frame["as_of"] = as_of_ts
    return frame


def _property_keys_infer(properties: pd.Series) -> list[str]:
    """Custom fields worth using: not leaky, not dates, not identifiers; the best-covered few."""
    total = len(properties)
    if total == 0:
        return []
    values: dict[str, list[Any]] = {}
    for record in properties:
        if isinstance(record, dict):
            for key, value in record.items():
                if isinstance(key, str) and not _LEAKY_PROPERTY.search(key) and _present(value):
                    values.setdefault(key, []).append(value)
    ranked = []
    for key, present in values.items():
        coverage = len(present) / total
        if coverage < PROPERTY_MIN_COVERAGE or any(isinstance(v, (dict, list)) for v in present):
            continue
        texts = [str(v).strip() for v in present]
        if sum(bool(_DATE_LIKE.match(t)) for t in texts) > 0.5 * len(texts):
            continue
        numeric = pd.to_numeric(pd.Series(texts), errors="coerce").notna().mean() >= 0.95
        distinct = len(set(texts))
        if not numeric and distinct > 50 and distinct > 0.5 * len(texts):
            continue  # free text or identifiers
        ranked.append((-coverage, key))
    return [key for _, key in sorted(ranked)[:PROPERTY_LIMIT]]


def _property_column(properties: pd.Series, key: str) -> pd.Series:
    raw = properties.map(lambda record: record.get(key) if isinstance(record, dict) else None)
    present = [v for v in raw if _present(v)]
    numbers = pd.to_numeric(pd.Series([str(v) for v in present], dtype=object), errors="coerce")
    if present and numbers.notna().mean() >= 0.95:
        return pd.to_numeric(raw.map(lambda v: str(v) if _present(v) else None), errors="coerce").astype(float)
    return raw.map(lambda v: str(v).strip() if _present(v) else None).astype(object)


# --- small helpers ------------------------------------------------------------------------------------------
def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip()) and value == value


def _text(series: pd.Series) -> pd.Series:
    return series.map(lambda v: str(v).strip() if _present(v) else None).astype(object)


def _normalise_title(title: str | None) -> str:
    if not isinstance(title, str):
        return ""
    return " ".join(title.lower().replace("&", " and ").replace(",", " ").split())


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce")


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("as_of/snapshots must be timezone-aware datetimes")


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame(columns=[c.name for c in BASE_COLUMNS] + ["as_of"])
    frame.index.name = "contact_id"
    return frame
