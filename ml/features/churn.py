"""Point-in-time churn features: one row per (customer account, snapshot S), built only from what was known
before S, plus the account's last activities as a sequence (ml.engine.activity_sequences).

A customer is a company with a converted contact or a won deal; it is a customer from the earliest of
those. It churned at the date in its custom property `settings.ML_CHURN_DATE_PROPERTY` or at the close
date of a lost deal whose pipeline or name says "renewal" (the earliest after it became a customer).
Training rows: snapshots every `spacing_days` (two weeks by default: an account's words and habits turn
within weeks, and a few hundred accounts need more than one row a month to learn from) from one spacing
after the account became a customer, while it is still a customer and while the whole label window is
observed (S + horizon <= the latest data); the label is "churns within `horizon_days` after S". Scoring
rows: current customers (not churned, not deleted).

Features use activities with occurred_at < S, deals created (won: closed) before S, contacts created
(converted) before S, and company attributes. The churn-date property and every custom field whose name
suggests a status or a date are never features (EXCLUDED_FIELDS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce

from ml.engine.activity_sequences import (
    SEQUENCE_LENGTH_DEFAULT,
    ActivitySequences,
    direction_index,
    kind_index,
    sequence_steps,
    sequences_empty,
)
from ml.engine.schema import ColumnSpec, TableSchema
from ml.features.lead import ENGAGEMENT_BUCKETS
from salesai.core.models import Activity, Company, Contact, Deal
from salesai.core.selectors import contacts_not_erased

HORIZON_DAYS_DEFAULT = 90
SNAPSHOT_SPACING_DAYS = 15
WINDOWS_DAYS = (30, 90)
PROPERTY_PREFIX = "prop__"
PROPERTY_LIMIT = 5
PROPERTY_MIN_COVERAGE = 0.2
_RENEWAL = re.compile(r"renew", re.I)
_LEAKY_PROPERTY = re.compile(
    r"lifecycle|status|stage|convert|customer|won|lost|closed|churn|cancel|renew|became|date|_at$", re.I
)
_IN_CHUNK = 900

EXCLUDED_FIELDS: dict[str, str] = {
    "churn date property": "the label itself",
    "lost renewal deals": "the label itself (only their existence before S as open deals is used)",
    "custom fields about status, stage, lifecycle, churn, cancellation, renewal or dates": "likely written when (or after) the account churns; no point-in-time history",
    "contact lifecycle stage / lead status": "updated as accounts come and go: leaks the outcome",
    "names, emails, owners, external ids": "identifiers: memorise accounts, carry no general signal",
}

BASE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("company_industry", "categorical", "Industry"),
    ColumnSpec("company_country", "categorical", "Company country"),
    ColumnSpec("company_employee_count", "numeric", "Company employees", "company_size"),
    ColumnSpec("company_annual_revenue", "numeric", "Company annual revenue", "company_size"),
    ColumnSpec("tenure_days", "numeric", "Days as a customer"),
    ColumnSpec("won_deals", "numeric", "Won deals", "won_deals"),
    ColumnSpec("won_amount", "numeric", "Won deal amount", "won_deals"),
    ColumnSpec("open_deals", "numeric", "Open deals", "open_deals"),
    ColumnSpec("open_deal_amount", "numeric", "Open deal amount", "open_deals"),
    ColumnSpec("contacts", "numeric", "Contacts", "people"),
    ColumnSpec("customer_contacts", "numeric", "Contacts who bought", "people"),
    *(
        ColumnSpec(f"{prefix}_{days}d", "numeric", f"{words} ({days} days)", prefix)
        for prefix, _kind, _direction, words in ENGAGEMENT_BUCKETS
        for days in WINDOWS_DAYS
    ),
    ColumnSpec("activities_30d", "numeric", "Activities (30 days)", "activity_volume"),
    ColumnSpec("activities_90d", "numeric", "Activities (90 days)", "activity_volume"),
    ColumnSpec("activity_trend", "numeric", "Activity trend (last 30 days vs 90-day pace)", "activity_volume"),
    ColumnSpec("inbound_share_90d", "numeric", "Share of inbound activities (90 days)"),
    ColumnSpec("days_since_last_activity", "numeric", "Days since last activity", "recency"),
    ColumnSpec("days_since_last_meeting", "numeric", "Days since last meeting", "recency"),
    ColumnSpec("days_since_last_inbound", "numeric", "Days since last inbound activity", "recency"),
    ColumnSpec("seq_length", "numeric", "Recent activities on record", "sequence"),
    ColumnSpec("seq_span_days", "numeric", "Days spanned by the recent activities", "sequence"),
    ColumnSpec("seq_mean_log_gap", "numeric", "Typical gap between recent activities", "sequence"),
    ColumnSpec("seq_inbound_share", "numeric", "Share of inbound among recent activities", "sequence"),
)


@dataclass
class ChurnFrame:
    frame: pd.DataFrame  # index company_id (repeated across snapshots), feature columns + `as_of`
    sequences: ActivitySequences  # row i <-> frame row i
    labels: pd.Series | None = None  # 0/1 "churned", same order (training frames only)

    def __len__(self) -> int:
        return len(self.frame)


# --- public API ---------------------------------------------------------------------------------------------
def churn_training_frame(
    *,
    organization_id: int,
    horizon_days: int = HORIZON_DAYS_DEFAULT,
    spacing_days: int = SNAPSHOT_SPACING_DAYS,
    sequence_length: int = SEQUENCE_LENGTH_DEFAULT,
    text: bool = True,
) -> ChurnFrame:
    """Every observed (customer, monthly snapshot) row with its label; see the module docstring."""
    if horizon_days <= 0 or spacing_days <= 0:
        raise ValueError("horizon_days and spacing_days must be positive")
    tables = _tables_load(organization_id=organization_id, company_ids=None)
    end = _data_end(tables)
    horizon, spacing = pd.Timedelta(days=horizon_days), pd.Timedelta(days=spacing_days)
    rows: list[tuple[int, pd.Timestamp]] = []
    labels: list[int] = []
    if end is not None:
        for company_id, start in tables.customer_since.items():
            churned = tables.churned_at.get(company_id)
            snapshot = start + spacing
            while snapshot + horizon <= end and (churned is None or snapshot < churned):
                rows.append((company_id, snapshot))
                labels.append(int(churned is not None and churned <= snapshot + horizon))
                snapshot += spacing
    property_keys = _property_keys_infer(tables.companies["properties"])
    built = _frame_build(tables, rows=rows, property_keys=property_keys, sequence_length=sequence_length, text=text)
    built.labels = pd.Series(labels, index=built.frame.index, dtype=np.int64, name="churned")
    return built


def churn_scoring_frame(
    *,
    organization_id: int,
    as_of: datetime,
    company_ids: list[int] | None = None,
    property_keys: list[str] | None = None,
    sequence_length: int = SEQUENCE_LENGTH_DEFAULT,
    text: bool = True,
) -> ChurnFrame:
    """Current customers at `as_of` (became customers before it, not churned by it, not deleted), narrowed
    to `company_ids` when given, with features as known strictly before `as_of`."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be a timezone-aware datetime")
    moment = pd.Timestamp(as_of).tz_convert("UTC")
    tables = _tables_load(organization_id=organization_id, company_ids=company_ids)
    rows = []
    for company_id, start in sorted(tables.customer_since.items()):
        churned = tables.churned_at.get(company_id)
        if start < moment and (churned is None or churned > moment):
            rows.append((company_id, moment))
    if property_keys is None:
        property_keys = _property_keys_infer(tables.companies["properties"])
    return _frame_build(tables, rows=rows, property_keys=property_keys, sequence_length=sequence_length, text=text)


def churn_schema(frame: pd.DataFrame) -> TableSchema:
    columns = list(BASE_COLUMNS)
    for name in frame.columns:
        if isinstance(name, str) and name.startswith(PROPERTY_PREFIX):
            kind = "numeric" if pd.api.types.is_numeric_dtype(frame[name].dtype) else "categorical"
            key = name.removeprefix(PROPERTY_PREFIX)
            columns.append(ColumnSpec(name, kind, f"{key.replace('_', ' ').strip().capitalize()} (CRM field)"))
    return TableSchema(columns=tuple(columns))


def churn_property_keys(schema: TableSchema) -> list[str]:
    return [c.name.removeprefix(PROPERTY_PREFIX) for c in schema.columns if c.name.startswith(PROPERTY_PREFIX)]


def churn_dates(*, organization_id: int) -> dict[int, pd.Timestamp]:
    """company id -> when it churned (label source), for customers that did."""
    return dict(_tables_load(organization_id=organization_id, company_ids=None).churned_at)


# --- loading ------------------------------------------------------------------------------------------------
@dataclass
class _Tables:
    companies: pd.DataFrame  # index company id: industry, employee_count, annual_revenue, country, properties
    contacts: pd.DataFrame  # company_id, created, converted_at
    deals: pd.DataFrame  # company_id, amount, status, created, closed_on
    activities: pd.DataFrame  # company_id, occurred_at, kind, direction, text; sorted by company, time, id
    customer_since: dict[int, pd.Timestamp]
    churned_at: dict[int, pd.Timestamp]


def _tables_load(*, organization_id: int, company_ids: list[int] | None) -> _Tables:
    company_qs = Company.objects.filter(organization_id=organization_id, deleted_at__isnull=True)
    companies = (
        pd.DataFrame(
            _values(
                company_qs,
                ("id", "industry", "employee_count", "annual_revenue", "country", "properties"),
                "id",
                company_ids,
            ),
            columns=["id", "industry", "employee_count", "annual_revenue", "country", "properties"],
        )
        .set_index("id")
        .sort_index()
    )
    ids = [int(i) for i in companies.index]
    contacts = pd.DataFrame(
        _values(
            contacts_not_erased(Contact.objects.filter(organization_id=organization_id, deleted_at__isnull=True)),
            ("company_id", "remote_created_at", "created_at", "converted_at"),
            "company_id",
            ids,
        ),
        columns=["company_id", "remote_created_at", "created_at", "converted_at"],
    )
    contacts["created"] = _utc(contacts["remote_created_at"]).fillna(_utc(contacts["created_at"]))
    contacts["converted_at"] = _utc(contacts["converted_at"])
    deals = pd.DataFrame(
        _values(
            Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True),
            ("company_id", "amount", "status", "pipeline", "name", "close_date", "remote_created_at", "created_at"),
            "company_id",
            ids,
        ),
        columns=["company_id", "amount", "status", "pipeline", "name", "close_date", "remote_created_at", "created_at"],
    )
    deals["created"] = _utc(deals["remote_created_at"]).fillna(_utc(deals["created_at"]))
    deals["amount"] = pd.to_numeric(deals["amount"].astype(object), errors="coerce").astype(float)
    closed = deals["status"].isin([Deal.Status.WON, Deal.Status.LOST]) & deals["close_date"].notna()
    deals["closed_on"] = _utc(deals["close_date"].where(closed).astype(object))
    deals["renewal_lost"] = (deals["status"] == Deal.Status.LOST) & (
        deals["pipeline"].fillna("").str.contains(_RENEWAL) | deals["name"].fillna("").str.contains(_RENEWAL)
    )
    activity_qs = Activity.objects.filter(organization_id=organization_id, deleted_at__isnull=True).annotate(
        account_id=Coalesce(F("company_id"), F("contact__company_id"))
    )
    activities = pd.DataFrame(
        _values(
            activity_qs, ("account_id", "occurred_at", "kind", "direction", "subject", "body", "id"), "account_id", ids
        ),
        columns=["company_id", "occurred_at", "kind", "direction", "subject", "body", "id"],
    )
    activities["occurred_at"] = _utc(activities["occurred_at"])
    activities = activities.dropna(subset=["company_id", "occurred_at"])
    activities["company_id"] = activities["company_id"].astype(np.int64)
    activities = activities.sort_values(["company_id", "occurred_at", "id"], kind="stable").reset_index(drop=True)
    activities["text"] = [
        "\n".join(p.strip() for p in (s or "", b or "") if p and p.strip())
        for s, b in zip(activities["subject"], activities["body"], strict=True)
    ]
    tables = _Tables(
        companies=companies,
        contacts=contacts,
        deals=deals,
        activities=activities.drop(columns=["subject", "body"]),
        customer_since={},
        churned_at={},
    )
    tables.customer_since, tables.churned_at = _customers(tables, company_ids=set(ids))
    return tables


def _customers(tables: _Tables, *, company_ids: set[int]) -> tuple[dict[int, pd.Timestamp], dict[int, pd.Timestamp]]:
    """(company -> customer since, company -> churned at) from conversions, won deals and churn records."""
    starts: dict[int, pd.Timestamp] = {}
    converted = tables.contacts.dropna(subset=["company_id", "converted_at"])
    for company_id, moment in converted.groupby("company_id")["converted_at"].min().items():
        starts[int(company_id)] = moment
    won = tables.deals[(tables.deals["status"] == Deal.Status.WON) & tables.deals["closed_on"].notna()]
    for company_id, moment in won.dropna(subset=["company_id"]).groupby("company_id")["closed_on"].min().items():
        starts[int(company_id)] = min(starts.get(int(company_id), moment), moment)
    starts = {c: m for c, m in starts.items() if c in company_ids}

    candidates: dict[int, list[pd.Timestamp]] = {}
    key = settings.ML_CHURN_DATE_PROPERTY
    for company_id, properties in tables.companies["properties"].items():
        value = properties.get(key) if isinstance(properties, dict) else None
        moment = pd.to_datetime(str(value).strip(), utc=True, errors="coerce") if _present(value) else pd.NaT
        if not pd.isna(moment):
            candidates.setdefault(int(company_id), []).append(moment.normalize())
    renewals = tables.deals[tables.deals["renewal_lost"] & tables.deals["closed_on"].notna()]
    for company_id, moment in zip(renewals["company_id"], renewals["closed_on"], strict=True):
        if not pd.isna(company_id):
            candidates.setdefault(int(company_id), []).append(moment)
    churned = {}
    for company_id, moments in candidates.items():
        start = starts.get(company_id)
        after = [m for m in moments if start is not None and m > start]  # a churn before the sale is noise
        if after:
            churned[company_id] = min(after)
    return starts, churned


def _data_end(tables: _Tables) -> pd.Timestamp | None:
    """The latest moment anything happened: labels are observed up to here."""
    moments = [
        tables.activities["occurred_at"].max() if len(tables.activities) else pd.NaT,
        tables.contacts["converted_at"].max() if len(tables.contacts) else pd.NaT,
        max(tables.churned_at.values()) if tables.churned_at else pd.NaT,
    ]
    moments = [m for m in moments if not pd.isna(m)]
    return max(moments) if moments else None


def _values(queryset: Any, fields: tuple[str, ...], id_field: str, ids: Iterable[int] | None) -> list[tuple]:
    if ids is None:
        return list(queryset.values_list(*fields).iterator(chunk_size=5000))
    ids = list(ids)
    rows: list[tuple] = []
    for start in range(0, len(ids), _IN_CHUNK):
        rows.extend(queryset.filter(**{f"{id_field}__in": ids[start : start + _IN_CHUNK]}).values_list(*fields))
    return rows


# --- features at (company, snapshot) rows -------------------------------------------------------------------
def _frame_build(
    tables: _Tables,
    *,
    rows: list[tuple[int, pd.Timestamp]],
    property_keys: list[str],
    sequence_length: int,
    text: bool,
) -> ChurnFrame:
    company_ids = np.array([c for c, _ in rows], dtype=np.int64)
    snapshots = pd.DatetimeIndex([s for _, s in rows], tz="UTC") if rows else pd.DatetimeIndex([], tz="UTC")
    snapshot_ns = _ns(snapshots)
    companies = tables.companies.reindex(company_ids)
    frame = pd.DataFrame(index=pd.Index(company_ids, name="company_id"))
    frame["company_industry"] = _text(companies["industry"]).to_numpy()
    frame["company_country"] = _text(companies["country"]).to_numpy()
    employees = pd.to_numeric(companies["employee_count"], errors="coerce")
    frame["company_employee_count"] = employees.astype(float).to_numpy()
    frame["company_annual_revenue"] = (
        pd.to_numeric(companies["annual_revenue"].astype(object), errors="coerce").astype(float).to_numpy()
    )
    starts = np.array([tables.customer_since[c].value for c in company_ids], dtype=np.int64)
    frame["tenure_days"] = (snapshot_ns - starts) / 86_400e9

    columns: dict[str, np.ndarray] = {}
    _deal_columns(tables.deals, company_ids, snapshots, columns)
    _contact_columns(tables.contacts, company_ids, snapshot_ns, columns)
    sequences = _activity_columns(tables.activities, company_ids, snapshot_ns, columns, length=sequence_length)
    for name, values in columns.items():
        frame[name] = values
    for name, values in sequences.aggregates().items():
        frame[name] = values
    for key in property_keys:
        frame[PROPERTY_PREFIX + key] = _property_column(companies["properties"], key).to_numpy()
    frame["as_of"] = snapshots
    if text:
        _sequence_text_embed(sequences)
    else:
        sequences.vectors = np.zeros((0, 0), dtype=np.float32)
        sequences.text_index[:] = -1
    return ChurnFrame(frame=frame, sequences=sequences)


def _deal_columns(
    deals: pd.DataFrame, company_ids: np.ndarray, snapshots: pd.DatetimeIndex, out: dict[str, np.ndarray]
) -> None:
    n = len(company_ids)
    for name in ("won_deals", "won_amount", "open_deals", "open_deal_amount"):
        out[name] = np.zeros(n)
    by_company = {int(c): part for c, part in deals.dropna(subset=["company_id"]).groupby("company_id")}
    for row, (company_id, snapshot) in enumerate(zip(company_ids, snapshots, strict=True)):
        part = by_company.get(int(company_id))
        if part is None:
            continue
        day = snapshot.normalize()
        closed_before = part["closed_on"].notna() & (part["closed_on"] < day)
        won = closed_before & (part["status"] == Deal.Status.WON)
        open_ = (part["created"] < snapshot) & ~closed_before
        out["won_deals"][row] = won.sum()
        out["won_amount"][row] = part.loc[won, "amount"].sum()
        out["open_deals"][row] = open_.sum()
        out["open_deal_amount"][row] = part.loc[open_, "amount"].sum()


def _contact_columns(
    contacts: pd.DataFrame, company_ids: np.ndarray, snapshot_ns: np.ndarray, out: dict[str, np.ndarray]
) -> None:
    n = len(company_ids)
    out["contacts"], out["customer_contacts"] = np.zeros(n), np.zeros(n)
    grouped = {int(c): part for c, part in contacts.dropna(subset=["company_id"]).groupby("company_id")}
    for row, company_id in enumerate(company_ids):
        part = grouped.get(int(company_id))
        if part is None:
            continue
        created = _ns(part["created"].dropna())
        converted = _ns(part["converted_at"].dropna())
        out["contacts"][row] = (created < snapshot_ns[row]).sum()
        out["customer_contacts"][row] = (converted < snapshot_ns[row]).sum()


def _activity_columns(
    activities: pd.DataFrame,
    company_ids: np.ndarray,
    snapshot_ns: np.ndarray,
    out: dict[str, np.ndarray],
    *,
    length: int,
) -> ActivitySequences:
    n = len(company_ids)
    sequences = sequences_empty(rows=n, length=length, dim=0)
    bucket_of = {(kind, direction): b for b, (_, kind, direction, _) in enumerate(ENGAGEMENT_BUCKETS)}
    kinds = activities["kind"].to_numpy()
    directions = activities["direction"].fillna("").to_numpy()
    buckets = np.array(
        [bucket_of.get((k, d), bucket_of.get((k, None), -1)) for k, d in zip(kinds, directions)], dtype=np.int64
    )
    kind_codes = np.array([kind_index(k) for k in kinds], dtype=np.int64)
    direction_codes = np.array([direction_index(d) for d in directions], dtype=np.int64)
    inbound = directions == Activity.Direction.INBOUND
    meeting = kinds == Activity.Kind.MEETING
    times_all = _ns(activities["occurred_at"])
    spans: dict[int, tuple[int, int]] = {}
    if len(activities):
        company_codes = activities["company_id"].to_numpy()
        boundaries = np.flatnonzero(np.diff(company_codes)) + 1
        for start, stop in zip(np.r_[0, boundaries], np.r_[boundaries, len(company_codes)], strict=True):
            spans[int(company_codes[start])] = (int(start), int(stop))

    names = [f"{prefix}_{days}d" for prefix, *_ in ENGAGEMENT_BUCKETS for days in WINDOWS_DAYS]
    for name in [*names, "activities_30d", "activities_90d", "activity_trend", "inbound_share_90d"]:
        out[name] = np.zeros(n)
    for name in ("days_since_last_activity", "days_since_last_meeting", "days_since_last_inbound"):
        out[name] = np.full(n, np.nan)
    out["inbound_share_90d"][:] = np.nan
    day_ns = 86_400 * 10**9
    for row, company_id in enumerate(company_ids):
        start, stop = spans.get(int(company_id), (0, 0))
        times = times_all[start:stop]
        snapshot = int(snapshot_ns[row])
        before = int(np.searchsorted(times, snapshot, side="left"))  # strictly before the snapshot
        if not before:
            continue
        counts = {}
        for days in WINDOWS_DAYS:
            first = start + int(np.searchsorted(times, snapshot - days * day_ns, side="left"))
            window = slice(first, start + before)
            counts[days] = stop_count = (start + before) - first
            hits = np.bincount(buckets[window][buckets[window] >= 0], minlength=len(ENGAGEMENT_BUCKETS))
            for b, (prefix, *_rest) in enumerate(ENGAGEMENT_BUCKETS):
                out[f"{prefix}_{days}d"][row] = hits[b]
            out[f"activities_{days}d"][row] = stop_count
            if days == 90 and stop_count:
                out["inbound_share_90d"][row] = inbound[window].mean()
        out["activity_trend"][row] = counts[30] - counts[90] / 3
        last = start + before - 1
        out["days_since_last_activity"][row] = (snapshot - times_all[last]) / day_ns
        for name, mask in (("days_since_last_meeting", meeting), ("days_since_last_inbound", inbound)):
            hits = np.flatnonzero(mask[start : start + before])
            if len(hits):
                out[name][row] = (snapshot - times_all[start + hits[-1]]) / day_ns
        positions, numbers = sequence_steps(times_ns=times, before=before, length=length, snapshot_ns=snapshot)
        k = len(positions)
        sequences.kind[row, length - k :] = kind_codes[start + positions]
        sequences.direction[row, length - k :] = direction_codes[start + positions]
        sequences.numeric[row, length - k :] = numbers
        sequences.text_index[row, length - k :] = start + positions  # activity rows for now: see below
    sequences.texts = activities["text"].tolist()
    sequences.text_kinds = [str(k) for k in kinds]
    return sequences


def _sequence_text_embed(sequences: ActivitySequences) -> None:
    """Turn the activity rows in `text_index` into rows of embedded texts (only the activities some
    sequence uses, each distinct text encoded once, ever: ml.text.cache)."""
    from ml.text.cache import text_embeddings_get  # torch-backed: only when text is asked for

    used = np.unique(sequences.text_index[sequences.text_index >= 0])
    used = np.array([a for a in used if sequences.texts[a]], dtype=np.int64)
    remap = np.full(len(sequences.texts) + 1, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    texts = [sequences.texts[a] for a in used]
    kinds = [sequences.text_kinds[a] for a in used]
    sequences.vectors = text_embeddings_get(texts=texts) if texts else np.zeros((0, 384), dtype=np.float32)
    sequences.text_index = np.where(sequences.text_index >= 0, remap[sequences.text_index], -1)
    sequences.texts, sequences.text_kinds = texts, kinds


# --- custom fields (mirrors ml.features.lead: not leaky, not dates, not identifiers) ---------------------------
def _property_keys_infer(properties: pd.Series) -> list[str]:
    total = len(properties)
    if not total:
        return []
    churn_key = settings.ML_CHURN_DATE_PROPERTY
    values: dict[str, list[str]] = {}
    for record in properties:
        if isinstance(record, dict):
            for key, value in record.items():
                if isinstance(key, str) and key != churn_key and not _LEAKY_PROPERTY.search(key) and _present(value):
                    values.setdefault(key, []).append(str(value).strip())
    ranked = []
    for key, present in values.items():
        coverage = len(present) / total
        if coverage < PROPERTY_MIN_COVERAGE:
            continue
        if sum(bool(re.match(r"^\d{4}-\d{2}-\d{2}", v)) for v in present) > 0.5 * len(present):
            continue
        numeric = pd.to_numeric(pd.Series(present), errors="coerce").notna().mean() >= 0.95
        distinct = len(set(present))
        if not numeric and distinct > 50 and distinct > 0.5 * len(present):
            continue
        ranked.append((-coverage, key))
    return [key for _, key in sorted(ranked)[:PROPERTY_LIMIT]]


def _property_column(properties: pd.Series, key: str) -> pd.Series:
    raw = properties.map(lambda record: record.get(key) if isinstance(record, dict) else None)
    present = [str(v) for v in raw if _present(v)]
    if present and pd.to_numeric(pd.Series(present), errors="coerce").notna().mean() >= 0.95:
        return pd.to_numeric(raw.map(lambda v: str(v) if _present(v) else None), errors="coerce").astype(float)
    return raw.map(lambda v: str(v).strip() if _present(v) else None).astype(object)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip()) and value == value


def _text(series: pd.Series) -> pd.Series:
    return series.map(lambda v: str(v).strip() if _present(v) else None).astype(object)


def _ns(moments: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC moments as int64 nanoseconds, whatever resolution pandas chose for them."""
    if not len(moments):
        return np.zeros(0, dtype=np.int64)
    return pd.DatetimeIndex(moments).tz_convert("UTC").as_unit("ns").asi8


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce")
