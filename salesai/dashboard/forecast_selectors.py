"""Reads behind `/app/forecast/` and `/api/v1/forecasts/`: the latest stored forecast per month with the
baselines of the same run, the deals behind each month, rows per owner / team / pipeline, and how accurate
past forecasts were (each closed month against the forecast made before it began).

Everything comes from ForecastSnapshot / ForecastRow (ml.deal_services writes them); nothing is recomputed
here, so the page shows exactly what the forecast run stored."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from ml.models import ForecastRow, ForecastSnapshot, Prediction, Task
from salesai.core.models import Deal
from salesai.core.selectors import records_for_user

User = AbstractBaseUser | AnonymousUser
Method = ForecastSnapshot.Method
Scope = ForecastRow.Scope

METHOD_LABELS = {
    Method.OUR: "Our forecast",
    Method.STAGE_WEIGHTED: "Stage-weighted pipeline",
    Method.COMMIT: "CRM commit",
    Method.RUN_RATE: "Trailing run-rate",
}
BASELINE_METHODS = (Method.STAGE_WEIGHTED, Method.COMMIT, Method.RUN_RATE)
ACCURACY_MONTHS = 12  # closed months shown in the accuracy table


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --- snapshots --------------------------------------------------------------------------------------------
def forecast_snapshots_for_user(*, user: User) -> QuerySet[ForecastSnapshot]:
    return records_for_user(user=user, model=ForecastSnapshot).select_related("organization", "model_version")


def forecast_snapshots_with_rows(*, queryset: QuerySet[ForecastSnapshot], scope: str | None = None) -> QuerySet:
    """Prefetch each snapshot's rows (narrowed to one scope when given) as `rows_prefetched`, in one query."""
    rows = ForecastRow.objects.order_by("scope", "scope_value", "month")
    if scope:
        rows = rows.filter(scope=scope)
    return queryset.prefetch_related(Prefetch("rows", queryset=rows, to_attr="rows_prefetched"))


def forecast_latest_get(*, organization_id: int, method: str = Method.OUR) -> ForecastSnapshot | None:
    """The newest snapshot of the method, its rows prefetched."""
    snapshots = ForecastSnapshot.objects.filter(organization_id=organization_id, method=method).select_related(
        "model_version"
    )
    return forecast_snapshots_with_rows(queryset=snapshots).order_by("-created_at", "-id").first()


def forecast_headline_get(*, organization_id: int) -> ForecastRow | None:
    """This month's org row of the latest forecast (the home page's forecast card), with its snapshot."""
    latest = ForecastSnapshot.objects.filter(organization_id=organization_id, method=Method.OUR).order_by(
        "-created_at", "-id"
    )[:1]
    return (
        ForecastRow.objects.filter(snapshot__in=latest, scope=Scope.ORG)
        .select_related("snapshot")
        .order_by("month")
        .first()
    )


# --- the page's months ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopDeal:
    deal_id: int
    name: str
    expected_contribution: float
    probability: float | None
    exists: bool  # False when the deal was deleted since the run (no page to link to)


@dataclass(frozen=True)
class Baseline:
    method: str
    label: str
    expected: Decimal


@dataclass(frozen=True)
class MonthForecast:
    month: date
    expected: Decimal
    p10: Decimal | None
    p50: Decimal | None
    p90: Decimal | None
    open_pipeline_part: Decimal
    new_deal_part: Decimal
    actual: Decimal | None
    top_deals: list[TopDeal]
    baselines: list[Baseline]


def _row_months(snapshot: ForecastSnapshot) -> list[date]:
    months = []
    for text in snapshot.months or []:
        try:
            months.append(date.fromisoformat(str(text)[:10]))
        except ValueError:
            continue
    if not months:  # older snapshots without `months`: the months of their rows
        months = sorted({row.month for row in snapshot.rows_prefetched})
    return months


def _baseline_rows(*, snapshot: ForecastSnapshot) -> dict[tuple[str, date], Decimal]:
    """The org-level expected value of every baseline method stored for the same as-of date (the same run):
    the newest snapshot of each method wins."""
    rows = (
        ForecastRow.objects.filter(
            snapshot__organization_id=snapshot.organization_id,
            snapshot__as_of=snapshot.as_of,
            snapshot__method__in=BASELINE_METHODS,
            scope=Scope.ORG,
        )
        .order_by("snapshot__created_at", "snapshot_id")
        .values_list("snapshot__method", "month", "expected")
    )
    return {(method, month): expected for method, month, expected in rows}  # later snapshots overwrite


def forecast_months(*, snapshot: ForecastSnapshot) -> list[MonthForecast]:
    """The org row of each forecast month with its baselines and the deals behind it (names read from the
    deals themselves, scoped to the snapshot's organisation)."""
    org_rows = {row.month: row for row in snapshot.rows_prefetched if row.scope == Scope.ORG}
    deal_ids = {
        int(item["deal_id"])
        for row in org_rows.values()
        for item in row.top_deals or []
        if isinstance(item, dict) and str(item.get("deal_id", "")).isdigit()
    }
    names = dict(
        Deal.objects.filter(
            organization_id=snapshot.organization_id, id__in=deal_ids, deleted_at__isnull=True
        ).values_list("id", "name")
    )
    baselines = _baseline_rows(snapshot=snapshot)
    months = []
    for month in _row_months(snapshot):
        row = org_rows.get(month)
        if row is None:
            continue
        top = []
        for item in row.top_deals or []:
            if not isinstance(item, dict) or not str(item.get("deal_id", "")).isdigit():
                continue
            deal_id = int(item["deal_id"])
            probability = item.get("probability")
            top.append(
                TopDeal(
                    deal_id=deal_id,
                    name=names.get(deal_id) or str(item.get("name") or f"Deal {deal_id}"),
                    expected_contribution=float(item.get("expected_contribution") or 0.0),
                    probability=float(probability) if probability is not None else None,
                    exists=deal_id in names,
                )
            )
        top.sort(key=lambda deal: -deal.expected_contribution)
        months.append(
            MonthForecast(
                month=month,
                expected=row.expected,
                p10=row.p10,
                p50=row.p50,
                p90=row.p90,
                open_pipeline_part=row.open_pipeline_part,
                new_deal_part=row.new_deal_part,
                actual=row.actual,
                top_deals=top,
                baselines=[
                    Baseline(method=method, label=METHOD_LABELS[method], expected=baselines[(method, month)])
                    for method in BASELINE_METHODS
                    if (method, month) in baselines
                ],
            )
        )
    return months


def deals_moving_forecast(*, organization_id: int, months: list[MonthForecast], limit: int = 10) -> list[TopDeal]:
    """The deals that move the forecast most over all its months: each deal's expected contributions summed,
    with the deal's current win probability (not a single month's share; None when unscored)."""
    totals: dict[int, float] = defaultdict(float)
    first_seen: dict[int, TopDeal] = {}
    for month in months:
        for deal in month.top_deals:
            totals[deal.deal_id] += deal.expected_contribution
            first_seen.setdefault(deal.deal_id, deal)
    ranked = sorted(totals, key=lambda deal_id: -totals[deal_id])[:limit]
    current = dict(
        Prediction.objects.filter(
            organization_id=organization_id, deal_id__in=ranked, task=Task.DEAL_WIN, is_current=True
        ).values_list("deal_id", "probability")
    )
    return [
        TopDeal(
            deal_id=deal_id,
            name=first_seen[deal_id].name,
            expected_contribution=totals[deal_id],
            probability=current.get(deal_id),
            exists=first_seen[deal_id].exists,
        )
        for deal_id in ranked
    ]


# --- how the forecast moved ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForecastMove:
    snapshot_id: int
    created_at: datetime
    as_of: date
    expected: list[Decimal | None]  # one per month of the latest run; None where that run had no row


def forecast_moves_list(*, snapshot: ForecastSnapshot, limit: int = 8) -> list[ForecastMove]:
    """The org-level expected value of the latest run's months in each of the last `limit` runs of the same
    method, newest first: how the number moved from run to run. Two queries whatever `limit` is."""
    months = _row_months(snapshot)
    runs = list(
        ForecastSnapshot.objects.filter(organization_id=snapshot.organization_id, method=snapshot.method)
        .order_by("-created_at", "-id")
        .values_list("id", "created_at", "as_of")[:limit]
    )
    values: dict[tuple[int, date], Decimal] = {
        (snapshot_id, month): expected
        for snapshot_id, month, expected in ForecastRow.objects.filter(
            snapshot_id__in=[run[0] for run in runs], scope=Scope.ORG, month__in=months
        ).values_list("snapshot_id", "month", "expected")
    }
    return [
        ForecastMove(
            snapshot_id=snapshot_id,
            created_at=created_at,
            as_of=as_of,
            expected=[values.get((snapshot_id, month)) for month in months],
        )
        for snapshot_id, created_at, as_of in runs
    ]


# --- per owner / team / pipeline --------------------------------------------------------------------------
@dataclass(frozen=True)
class ScopeCell:
    expected: Decimal
    p10: Decimal | None
    p90: Decimal | None


@dataclass(frozen=True)
class ScopeRow:
    value: str
    cells: list[ScopeCell | None]  # one per forecast month, None where the run stored no row
    total_expected: Decimal


def forecast_scope_rows(*, snapshot: ForecastSnapshot, scope: str) -> list[ScopeRow]:
    """One row per owner / team / pipeline with a cell per forecast month, largest total first."""
    months = _row_months(snapshot)
    cells: dict[str, dict[date, ScopeCell]] = defaultdict(dict)
    for row in snapshot.rows_prefetched:
        if row.scope == scope:
            cells[row.scope_value][row.month] = ScopeCell(expected=row.expected, p10=row.p10, p90=row.p90)
    rows = [
        ScopeRow(
            value=value,
            cells=[by_month.get(month) for month in months],
            total_expected=sum((cell.expected for cell in by_month.values()), Decimal(0)),
        )
        for value, by_month in cells.items()
    ]
    return sorted(rows, key=lambda row: (-row.total_expected, row.value))


# --- accuracy of past forecasts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AccuracyRow:
    method: str
    month: date
    forecast_as_of: date
    expected: Decimal
    p10: Decimal | None
    p90: Decimal | None
    actual: Decimal
    abs_error: Decimal
    within_80: bool | None  # None when the method stores no interval


@dataclass(frozen=True)
class MethodAccuracy:
    method: str
    label: str
    months: int
    wape: float | None  # sum |actual - expected| / sum actual
    coverage_80: float | None  # share of months whose actual fell inside p10..p90


@dataclass(frozen=True)
class ForecastAccuracy:
    rows: list[AccuracyRow] = field(default_factory=list)  # ours first, then baselines; months oldest first
    methods: list[MethodAccuracy] = field(default_factory=list)


def _won_by_month(*, organization_id: int, since: date, until: date) -> dict[date, Decimal]:
    """Won bookings per calendar month in the base currency (deals with no known rate are not counted)."""
    totals = (
        Deal.objects.filter(
            organization_id=organization_id,
            status=Deal.Status.WON,
            deleted_at__isnull=True,
            closed_at__date__gte=since,
            closed_at__date__lt=until,
            amount_base__isnull=False,
        )
        .annotate(month=TruncMonth("closed_at"))
        .order_by()
        .values("month")
        .annotate(total=Sum("amount_base"))
    )
    return {_as_date(item["month"]): item["total"] for item in totals}


def _as_date(value: date | datetime) -> date:
    return month_start(value.date() if isinstance(value, datetime) else value)


def forecast_accuracy_get(
    *, organization_id: int, today: date | None = None, months_back: int = ACCURACY_MONTHS
) -> ForecastAccuracy:
    """For each closed month and method: the forecast made before the month began (the newest snapshot with
    as_of on or before its first day; failing that the earliest one made within the month, so its as_of is
    shown) against what was booked. The actual is the one the forecast run recorded on its row, else the won
    deals of the month."""
    current = month_start(today or timezone.localdate())
    since = month_add(current, -months_back)
    candidates = (
        ForecastRow.objects.filter(
            snapshot__organization_id=organization_id, scope=Scope.ORG, month__gte=since, month__lt=current
        )
        .select_related("snapshot")
        .only(
            "month", "expected", "p10", "p90", "actual", "snapshot__method", "snapshot__as_of", "snapshot__created_at"
        )
        .order_by("month", "snapshot__as_of", "snapshot__created_at", "id")
    )
    chosen: dict[tuple[str, date], ForecastRow] = {}
    recorded_actuals: dict[date, Decimal] = {}
    for row in candidates:
        if row.actual is not None:
            recorded_actuals[row.month] = row.actual
        if row.snapshot.as_of >= month_add(row.month, 1):
            continue  # made after the month closed: not a forecast of it
        key = (row.snapshot.method, row.month)
        # Ascending as_of: a forecast made before the month replaces older ones; one made within the month
        # counts only while nothing earlier exists.
        if row.snapshot.as_of <= row.month or key not in chosen:
            chosen[key] = row
    if not chosen:
        return ForecastAccuracy()
    computed = _won_by_month(organization_id=organization_id, since=since, until=current)
    order = [Method.OUR, *BASELINE_METHODS]
    rows: list[AccuracyRow] = []
    for (method, month), row in sorted(chosen.items(), key=lambda item: (order.index(item[0][0]), item[0][1])):
        actual = row.actual if row.actual is not None else recorded_actuals.get(month, computed.get(month, Decimal(0)))
        has_interval = row.p10 is not None and row.p90 is not None
        rows.append(
            AccuracyRow(
                method=method,
                month=month,
                forecast_as_of=row.snapshot.as_of,
                expected=row.expected,
                p10=row.p10,
                p90=row.p90,
                actual=actual,
                abs_error=abs(actual - row.expected),
                within_80=(row.p10 <= actual <= row.p90) if has_interval else None,
            )
        )
    return ForecastAccuracy(rows=rows, methods=_method_accuracy(rows=rows, order=order))


def _method_accuracy(*, rows: list[AccuracyRow], order: list[str]) -> list[MethodAccuracy]:
    summaries = []
    for method in order:
        mine = [row for row in rows if row.method == method]
        if not mine:
            continue
        booked = sum((row.actual for row in mine), Decimal(0))
        errors = sum((row.abs_error for row in mine), Decimal(0))
        judged = [row.within_80 for row in mine if row.within_80 is not None]
        summaries.append(
            MethodAccuracy(
                method=method,
                label=METHOD_LABELS.get(method, method),
                months=len(mine),
                wape=float(errors / booked) if booked else None,
                coverage_80=sum(judged) / len(judged) if judged else None,
            )
        )
    return summaries
