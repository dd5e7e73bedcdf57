"""Deals and forecasts: reads for the API, the UI and the commands (keyword-only, organisation-scoped)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from ml.models import ForecastRow, ForecastSnapshot, Prediction, Task
from salesai.core.models import Deal, DealHistory

DEAL_ORDERINGS = {
    "win_probability": "win_probability",
    "-win_probability": "-win_probability",
    "amount": "amount_base",
    "-amount": "-amount_base",
    "close_date": "close_date",
    "-close_date": "-close_date",
    "name": "name",
}
SLIPPING_PUSHES = 2


def deals_scored(
    *, organization_id: int, ordering: str = "-win_probability", filters: dict[str, Any] | None = None
) -> QuerySet[Deal]:
    """Live deals with their current win prediction annotated (`win_probability`, `prediction_id`; NULL when not
    scored yet). `filters`: status, owner_email, pipeline, stage. Unknown orderings are a ValueError."""
    if ordering not in DEAL_ORDERINGS:
        raise ValueError(f"unknown ordering {ordering!r}; one of {', '.join(DEAL_ORDERINGS)}")
    current = Prediction.objects.filter(deal_id=OuterRef("pk"), task=Task.DEAL_WIN, is_current=True)
    deals = Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True).annotate(
        win_probability=Subquery(current.values("probability")[:1]),
        prediction_id=Subquery(current.values("id")[:1]),
    )
    for key in ("status", "owner_email", "pipeline", "stage"):
        value = (filters or {}).get(key)
        if value:
            deals = deals.filter(**{key: value})
    field = DEAL_ORDERINGS[ordering]
    name = field.lstrip("-")
    order = F(name).desc(nulls_last=True) if field.startswith("-") else F(name).asc(nulls_last=True)
    return deals.order_by(order, "id")


def deal_prediction_current(*, organization_id: int, deal_id: int) -> Prediction | None:
    return Prediction.objects.filter(
        organization_id=organization_id, deal_id=deal_id, task=Task.DEAL_WIN, is_current=True
    ).first()


def forecast_latest(*, organization_id: int, method: str = ForecastSnapshot.Method.OUR) -> ForecastSnapshot | None:
    return (
        ForecastSnapshot.objects.filter(organization_id=organization_id, method=method)
        .order_by("-created_at", "-id")
        .first()
    )


def forecast_rows(*, snapshot: ForecastSnapshot, scope: str | None = None) -> QuerySet[ForecastRow]:
    rows = snapshot.rows.all()
    return rows.filter(scope=scope) if scope else rows


def forecast_accuracy(*, organization_id: int, months: int = 12) -> list[dict[str, Any]]:
    """Per closed month and method: the forecast made the latest before that month began (or in it), the actual
    bookings, the absolute percentage error and whether the actual fell inside our 10-90% interval."""
    out = []
    rows = (
        ForecastRow.objects.filter(
            snapshot__organization_id=organization_id, scope=ForecastRow.Scope.ORG, actual__isnull=False
        )
        .select_related("snapshot")
        .order_by("month", "snapshot__method", "-snapshot__created_at")
    )
    seen: set[tuple[dt.date, str]] = set()
    for row in rows:
        key = (row.month, row.snapshot.method)
        if key in seen:
            continue
        seen.add(key)
        error = None if not row.actual else float(abs(row.actual - row.expected) / row.actual)
        inside = None
        if row.p10 is not None and row.p90 is not None:
            inside = row.p10 <= row.actual <= row.p90
        out.append(
            {
                "month": row.month,
                "method": row.snapshot.method,
                "forecast": row.expected,
                "actual": row.actual,
                "abs_pct_error": error,
                "inside_80": inside,
                "as_of": row.snapshot.as_of,
            }
        )
    return out[-months * len(ForecastSnapshot.Method.values) :]


def deals_moving_forecast(*, organization_id: int, month: dt.date | None = None, limit: int = 10) -> list[dict]:
    """The deals that carry the most expected bookings in the latest forecast (org scope)."""
    snapshot = forecast_latest(organization_id=organization_id)
    if snapshot is None:
        return []
    rows = snapshot.rows.filter(scope=ForecastRow.Scope.ORG)
    if month is not None:
        rows = rows.filter(month=month)
    deals: dict[int, dict[str, Any]] = {}
    for row in rows:
        for entry in row.top_deals:
            current = deals.setdefault(entry["deal_id"], {**entry, "expected_contribution": 0.0})
            current["expected_contribution"] += float(entry["expected_contribution"])
    return sorted(deals.values(), key=lambda d: -d["expected_contribution"])[:limit]


def deals_slipping(
    *, organization_id: int, today: dt.date | None = None, min_pushes: int = SLIPPING_PUSHES
) -> QuerySet[Deal]:
    """Open deals whose close date has passed, or whose close date was pushed later `min_pushes` times or more."""
    today = today or timezone.localdate()
    pushes = (
        DealHistory.objects.filter(deal_id=OuterRef("pk"), field=DealHistory.Field.CLOSE_DATE)
        .exclude(old_value="")
        .filter(new_value__gt=F("old_value"))  # ISO dates compare as text
        .values("deal_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Deal.objects.filter(organization_id=organization_id, status=Deal.Status.OPEN, deleted_at__isnull=True)
        .annotate(close_date_pushes=Subquery(pushes[:1]))
        .filter(Q(close_date__lt=today) | Q(close_date_pushes__gte=min_pushes))
        .order_by("close_date", "id")
    )


def forecast_total(*, snapshot: ForecastSnapshot) -> Decimal:
    return sum((row.expected for row in snapshot.rows.filter(scope=ForecastRow.Scope.ORG)), Decimal("0"))
