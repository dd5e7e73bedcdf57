"""Point-in-time deals: the history of their tracked fields, and what each deal looked like on a past date.

Writers: the deal upsert (`deal_history_record_upsert`, called from `services.deal_bulk_upsert`), webhooks (the
same upsert under `deal_history_source("webhook")`), the CRM backfills (`deal_history_backfill`) and the demo.
Values are stored as text: "" for no value, amounts as plain decimals, close dates as ISO dates.

Readers: `deal_snapshots_as_of` (the deal models' training rows and the forecast backtest's origins) and
`deal_outcomes`. A field without any history row never changed since we first saw the deal: its current value
stands for the whole past.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from salesai.core.currency import BaseTotal, RateTable, amount_in_base, base_amounts_total, currency_rates_load
from salesai.core.models import Deal, DealHistory, Organization, OwnerTeam, PipelineStage
from salesai.core.upsert.fields import InvalidValue, spec_for

TRACKED_FIELDS: tuple[str, ...] = tuple(DealHistory.Field.values)
_CLOSED = frozenset({Deal.Status.WON, Deal.Status.LOST})
_source: contextvars.ContextVar[str] = contextvars.ContextVar("deal_history_source", default=DealHistory.Source.SYNC)
_CHUNK = 500


@dataclass(frozen=True)
class DealSnapshot:
    """One deal as it was at a moment: every tracked field rebuilt from its history."""

    deal_id: int
    external_id: str
    name: str
    pipeline: str
    stage: str
    stage_probability: float | None  # the CRM's default for (pipeline, stage); None when unknown
    amount: Decimal | None
    currency: str
    amount_base: Decimal | None  # None: no amount, or no stored rate for its currency (never summed then)
    close_date: dt.date | None
    owner_email: str
    team: str
    status: str
    created_at: dt.datetime
    stage_changes: int  # stage moves after creation, up to the moment
    close_date_pushes: int  # close date moved later, up to the moment
    days_in_stage: int
    company_id: int | None
    contact_id: int | None
    close_date_passed: bool = False  # an open deal whose close date is before the moment: kept, and slipping

    @property
    def slipping(self) -> bool:
        """Open with its close date passed, or pushed back twice or more."""
        return self.status == Deal.Status.OPEN and (self.close_date_passed or self.close_date_pushes >= 2)


def history_text(value: Any) -> str:
    """A field value as history stores it."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _parse_amount(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


# --- writers -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def deal_history_source(source: str) -> Iterator[None]:
    """Deal upserts inside the block record their changes as coming from `source` (webhook, demo, ...)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


@contextlib.contextmanager
def deal_history_paused() -> Iterator[None]:
    """Deal upserts inside the block record no history (the caller writes the complete history itself, as the
    demo seed does); `closed_at` and `amount_base` are still kept in step."""
    with deal_history_source(""):
        yield


_LOADED_FIELDS = (*TRACKED_FIELDS, "closed_at", "amount_base", "remote_updated_at")


def deal_records_with_base_amounts(
    *, organization_id: int, records: list[dict], before: dict[str, dict[str, Any]], today: dt.date | None = None
) -> list[dict]:
    """Copies of the records that carry an amount or a currency, with `amount_base` at today's stored rate, so the
    upsert writes it in the same statement (no update per deal afterwards). A value the upsert will reject is
    left alone: the upsert reports it."""
    if not any("amount" in record or "currency" in record for record in records):
        return records
    normalize = spec_for(Deal).normalizers["amount"]
    rates = currency_rates_load(organization_id=organization_id)
    day = today or timezone.now().date()
    prepared = []
    for record in records:
        if ("amount" not in record and "currency" not in record) or not isinstance(record, dict):
            prepared.append(record)
            continue
        stored = before.get(record.get("external_id")) or {}
        try:
            amount = normalize(record["amount"]) if "amount" in record else stored.get("amount")
        except InvalidValue:
            prepared.append(record)
            continue
        currency = record["currency"] if "currency" in record else stored.get("currency", "")
        base = amount_in_base(
            amount=amount, currency=currency if isinstance(currency, str) else "", day=day, rates=rates
        )
        prepared.append({**record, "amount_base": base})
    return prepared


def deal_tracked_values(*, connection_id: int, external_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The tracked fields of the connection's deals with these CRM ids, before an upsert changes them."""
    wanted = [external_id for external_id in external_ids if isinstance(external_id, str)]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = Deal.objects.filter(connection_id=connection_id, external_id__in=wanted[start : start + _CHUNK]).values(
            "external_id", *TRACKED_FIELDS
        )
        for row in rows:
            found[row.pop("external_id")] = row
    return found


def deal_history_record_upsert(
    *, organization_id: int, before: dict[str, dict[str, Any]], changed_ids: list[int], now: dt.datetime | None = None
) -> int:
    """Append one history row per tracked field the upsert changed (one per field with a value on create), and
    keep `closed_at` and `amount_base` in step. Returns the number of history rows written."""
    if not changed_ids:
        return 0
    now = now or timezone.now()
    source = _source.get()
    rates = currency_rates_load(organization_id=organization_id)
    history: list[DealHistory] = []
    with transaction.atomic():
        for start in range(0, len(changed_ids), _CHUNK):
            rows = Deal.objects.filter(pk__in=changed_ids[start : start + _CHUNK]).values(
                "id", "external_id", *_LOADED_FIELDS
            )
            for row in rows:
                old = before.get(row["external_id"])
                # The CRM's modification time when it has one (never in the future), else when we saw it.
                changed_at = min(row["remote_updated_at"] or now, now)
                for name in TRACKED_FIELDS if source else ():
                    old_text = "" if old is None else history_text(old[name])
                    new_text = history_text(row[name])
                    if old_text != new_text:
                        history.append(
                            DealHistory(
                                organization_id=organization_id,
                                deal_id=row["id"],
                                field=name,
                                old_value=old_text,
                                new_value=new_text,
                                changed_at=changed_at,
                                source=source,
                            )
                        )
                derived = _derived_fields(row, old, changed_at, now.date(), rates)
                if derived:
                    Deal.objects.filter(pk=row["id"]).update(**derived)
        DealHistory.objects.bulk_create(history, batch_size=_CHUNK)
    return len(history)


def _derived_fields(
    row: dict[str, Any], old: dict[str, Any] | None, changed_at: dt.datetime, today: dt.date, rates: RateTable
) -> dict:
    derived: dict[str, Any] = {}
    closed = row["status"] in _CLOSED
    if closed and row["closed_at"] is None:
        derived["closed_at"] = changed_at
    elif not closed and row["closed_at"] is not None and (old is None or old["status"] != row["status"]):
        derived["closed_at"] = None  # reopened
    base = amount_in_base(amount=row["amount"], currency=row["currency"], day=today, rates=rates)
    if base != row["amount_base"]:
        derived["amount_base"] = base
    return derived


@dataclass(frozen=True)
class FieldChange:
    """One value a CRM reports for a deal field at a moment (backfill input)."""

    field: str
    value: str
    changed_at: dt.datetime


def deal_history_backfill(*, organization_id: int, deal_id: int, changes: list[FieldChange]) -> int:
    """Replace the history of every field the CRM reported with the CRM's own (it is complete from the deal's
    creation); fields it did not report keep theirs. Idempotent. Returns the number of rows written."""
    by_field: dict[str, list[FieldChange]] = {}
    for change in changes:
        if change.field not in TRACKED_FIELDS:
            raise ValueError(f"{change.field!r} is not a tracked deal field")
        by_field.setdefault(change.field, []).append(change)
    rows: list[DealHistory] = []
    for name, field_changes in by_field.items():
        previous = ""
        for change in sorted(field_changes, key=lambda c: c.changed_at):
            if change.value == previous:
                continue
            rows.append(
                DealHistory(
                    organization_id=organization_id,
                    deal_id=deal_id,
                    field=name,
                    old_value=previous,
                    new_value=change.value,
                    changed_at=change.changed_at,
                    source=DealHistory.Source.BACKFILL,
                )
            )
            previous = change.value
    with transaction.atomic():
        DealHistory.objects.filter(deal_id=deal_id, field__in=list(by_field)).delete()
        DealHistory.objects.bulk_create(rows)
    return len(rows)


def deal_history_replace(
    *, organization_id: int, changes: list[tuple[int, str, str, str, dt.datetime]], source: str
) -> int:
    """Replace the whole history of the deals named in `changes` (deal id, field, old, new, changed at) with
    them: a complete history from one source (the demo generator). Returns the number of rows written."""
    deal_ids = sorted({change[0] for change in changes})
    table = DealHistory._meta.db_table
    # Plain executemany: tens of thousands of rows, no model instances needed.
    insert = (
        f"INSERT INTO {table} (organization_id, deal_id, field, old_value, new_value, changed_at, source) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    adapt = db_connection.ops.adapt_datetimefield_value  # what the ORM would store for a DateTimeField
    with transaction.atomic():
        for start in range(0, len(deal_ids), _CHUNK):
            DealHistory.objects.filter(deal_id__in=deal_ids[start : start + _CHUNK]).delete()
        with db_connection.cursor() as cursor:
            for start in range(0, len(changes), 5000):
                cursor.executemany(
                    insert,
                    [
                        (organization_id, deal_id, name, old_value, new_value, adapt(changed_at), source)
                        for deal_id, name, old_value, new_value, changed_at in changes[start : start + 5000]
                    ],
                )
    return len(changes)


# --- readers -------------------------------------------------------------------------------------------------


def _value_at(events: list[tuple[dt.datetime, str, str]], as_of: dt.datetime, current: str) -> str:
    """The value at `as_of` from a field's (changed_at, old, new) events in time order."""
    value = None
    for changed_at, old_value, new_value in events:
        if changed_at <= as_of:
            value = new_value
        else:
            return old_value if value is None else value
    return current if value is None else value


def deal_snapshots_as_of(
    *, organization_id: int, as_of: dt.datetime, include_closed: bool = False
) -> list[DealSnapshot]:
    """Every deal of the organisation that existed at `as_of` (open then, unless `include_closed`), with its
    fields as they were then. Deals created after `as_of`, and deals deleted by then, are left out."""
    as_of = as_of.replace(tzinfo=dt.UTC) if timezone.is_naive(as_of) else as_of
    return _snapshots_at(_snapshot_inputs(organization_id=organization_id), as_of, include_closed)


def deal_snapshots_at(
    *, organization_id: int, as_of_list: list[dt.datetime], include_closed: bool = False
) -> dict[dt.datetime, list[DealSnapshot]]:
    """`deal_snapshots_as_of` for several moments (a backtest's origins), reading the history once."""
    inputs = _snapshot_inputs(organization_id=organization_id)
    found = {}
    for as_of in as_of_list:
        aware = as_of.replace(tzinfo=dt.UTC) if timezone.is_naive(as_of) else as_of
        found[as_of] = _snapshots_at(inputs, aware, include_closed)
    return found


@dataclass(frozen=True)
class _SnapshotInputs:
    rates: RateTable
    probabilities: dict[tuple[str, str], float | None]
    teams: dict[str, str]
    deals: list[dict[str, Any]]
    events: dict[int, dict[str, list[tuple[dt.datetime, str, str]]]]
    first_seen: dict[int, dt.datetime]


def _snapshot_inputs(*, organization_id: int) -> _SnapshotInputs:
    rates = currency_rates_load(organization_id=organization_id)
    probabilities = {
        (pipeline, stage): probability
        for pipeline, stage, probability in PipelineStage.objects.filter(organization_id=organization_id).values_list(
            "pipeline", "stage", "probability"
        )
    }
    teams = {
        owner.lower(): team
        for owner, team in OwnerTeam.objects.filter(organization_id=organization_id).values_list("owner_email", "team")
    }
    deals = list(
        Deal.objects.filter(organization_id=organization_id).values(
            "id",
            "external_id",
            "name",
            "company_id",
            "contact_id",
            "remote_created_at",
            "created_at",
            "deleted_at",
            *TRACKED_FIELDS,
        )
    )
    events: dict[int, dict[str, list[tuple[dt.datetime, str, str]]]] = {}
    first_seen: dict[int, dt.datetime] = {}
    history = (
        DealHistory.objects.filter(organization_id=organization_id)
        .order_by("deal_id", "changed_at", "id")
        .values_list("deal_id", "field", "changed_at", "old_value", "new_value")
    )
    for deal_id, name, changed_at, old_value, new_value in history.iterator(chunk_size=5000):
        events.setdefault(deal_id, {}).setdefault(name, []).append((changed_at, old_value, new_value))
        if deal_id not in first_seen:
            first_seen[deal_id] = changed_at
    return _SnapshotInputs(rates, probabilities, teams, deals, events, first_seen)


def _snapshots_at(inputs: _SnapshotInputs, as_of: dt.datetime, include_closed: bool) -> list[DealSnapshot]:
    rates, probabilities, teams = inputs.rates, inputs.probabilities, inputs.teams
    events, first_seen = inputs.events, inputs.first_seen
    snapshots: list[DealSnapshot] = []
    for deal in inputs.deals:
        if deal["deleted_at"] is not None and deal["deleted_at"] <= as_of:
            continue
        deal_id = deal["id"]
        created_at = deal["remote_created_at"] or first_seen.get(deal_id) or deal["created_at"]
        if created_at > as_of:
            continue
        fields = events.get(deal_id, {})
        values = {name: _value_at(fields.get(name, []), as_of, history_text(deal[name])) for name in TRACKED_FIELDS}
        status = values["status"] or Deal.Status.OPEN
        if status != Deal.Status.OPEN and not include_closed:
            continue
        stage_events = [event for event in fields.get("stage", []) if event[0] <= as_of]
        moved = [event for event in stage_events if event[1] != ""]
        entered_stage = stage_events[-1][0] if stage_events else created_at
        pushes = 0
        for changed_at, old_value, new_value in fields.get("close_date", []):
            if changed_at > as_of:
                break
            old_date, new_date = _parse_date(old_value), _parse_date(new_value)
            if old_date is not None and new_date is not None and new_date > old_date:
                pushes += 1
        amount = _parse_amount(values["amount"])
        close_date = _parse_date(values["close_date"])
        snapshots.append(
            DealSnapshot(
                deal_id=deal_id,
                external_id=deal["external_id"],
                name=deal["name"],
                pipeline=values["pipeline"],
                stage=values["stage"],
                stage_probability=probabilities.get((values["pipeline"], values["stage"])),
                amount=amount,
                currency=values["currency"],
                amount_base=amount_in_base(amount=amount, currency=values["currency"], day=as_of.date(), rates=rates),
                close_date=close_date,
                owner_email=values["owner_email"],
                team=teams.get(values["owner_email"].lower(), ""),
                status=status,
                created_at=created_at,
                stage_changes=len(moved),
                close_date_pushes=pushes,
                days_in_stage=max((as_of - max(entered_stage, created_at)).days, 0),
                company_id=deal["company_id"],
                contact_id=deal["contact_id"],
                close_date_passed=status == Deal.Status.OPEN and close_date is not None and close_date < as_of.date(),
            )
        )
    return snapshots


def deal_amounts_total(*, organization_id: int, status: str = Deal.Status.OPEN) -> BaseTotal:
    """The organisation's live deals of `status` summed in its base currency, with what was left out and why
    (no amount; a currency without a stored rate). Different currencies are never added up."""
    base = Organization.objects.filter(pk=organization_id).values_list("base_currency", flat=True).first() or "USD"
    rows = Deal.objects.filter(organization_id=organization_id, status=status, deleted_at__isnull=True).values_list(
        "amount_base", "amount", "currency"
    )
    return base_amounts_total(amounts=list(rows), base_currency=base)


def deal_outcomes(*, organization_id: int) -> dict[int, tuple[str, dt.datetime | None]]:
    """deal id -> (status today, when it closed) for the organisation's live deals."""
    rows = Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True).values_list(
        "id", "status", "closed_at"
    )
    return {deal_id: (status, closed_at) for deal_id, status, closed_at in rows}
