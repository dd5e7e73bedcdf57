"""Reads behind the deal API and the deal pages: each deal with its current win probability, expected close,
win-by-month and reasons (the current `deal_win` Prediction), and how often its close date was pushed.

The probability and the pushes are annotations (one subquery each, no query per row); the full current
prediction is prefetched once per page as `current_win_predictions` (a list of zero or one)."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from ml.models import Prediction, Task
from salesai.core.models import Activity, Deal, DealHistory, OwnerTeam

# Pushed this often (a later close date than before) and the deal is slipping, even before its date passed.
SLIPPING_PUSHES = 2


def _close_date_pushes() -> Subquery:
    """How many times the deal's close date moved later. The first value (old_value "") is not a push; ISO
    dates compare correctly as text."""
    pushes = (
        DealHistory.objects.filter(deal=OuterRef("pk"), field=DealHistory.Field.CLOSE_DATE)
        .exclude(old_value="")
        .exclude(new_value="")
        .filter(new_value__gt=F("old_value"))
        .order_by()
        .values("deal")
        .annotate(pushes=Count("id"))
        .values("pushes")
    )
    return Subquery(pushes, output_field=IntegerField())


def deals_with_win_probability(*, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
    """Annotate `win_probability`, `win_score`, `expected_close` (ISO date text) — None when unscored — and
    `close_date_pushes`; prefetch the current prediction with its model version."""
    current = Prediction.objects.filter(deal=OuterRef("pk"), task=Task.DEAL_WIN, is_current=True)
    expected_close = current.annotate(expected_close_text=KeyTextTransform("expected_close", "details"))
    prefetched = Prediction.objects.filter(task=Task.DEAL_WIN, is_current=True).select_related("model_version")
    return queryset.annotate(
        win_probability=Subquery(current.values("probability")[:1]),
        win_score=Subquery(current.values("score")[:1]),
        expected_close=Subquery(expected_close.values("expected_close_text")[:1]),
        close_date_pushes=Coalesce(_close_date_pushes(), Value(0)),
    ).prefetch_related(Prefetch("predictions", queryset=prefetched, to_attr="current_win_predictions"))


def deals_slipping_filter(*, queryset: QuerySet[Deal], today: date | None = None) -> QuerySet[Deal]:
    """Open deals whose close date has passed, or that were pushed `SLIPPING_PUSHES` times or more. Needs the
    `close_date_pushes` annotation of `deals_with_win_probability`."""
    today = today or timezone.localdate()
    return queryset.filter(Q(close_date__lt=today) | Q(close_date_pushes__gte=SLIPPING_PUSHES), status=Deal.Status.OPEN)


def _deals_slipping(*, organization_id: int, today: date | None) -> QuerySet[Deal]:
    deals = deals_with_win_probability(
        queryset=Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True)
    )
    return deals_slipping_filter(queryset=deals, today=today)


def deals_slipping_count(*, organization_id: int, today: date | None = None) -> int:
    return _deals_slipping(organization_id=organization_id, today=today).count()


def deals_slipping_list(*, organization_id: int, limit: int = 10, today: date | None = None) -> list[Deal]:
    """The organisation's slipping open deals, largest (in the base currency, then as entered) first."""
    slipping = _deals_slipping(organization_id=organization_id, today=today)
    ordered = slipping.order_by(
        F("amount_base").desc(nulls_last=True), F("amount").desc(nulls_last=True), "close_date", "id"
    )
    return list(ordered[:limit])


def deal_is_slipping(*, deal: Deal, today: date | None = None) -> bool:
    """The same rule as `deals_slipping_filter`, for one annotated deal."""
    if deal.status != Deal.Status.OPEN:
        return False
    today = today or timezone.localdate()
    passed = deal.close_date is not None and deal.close_date < today
    return passed or (getattr(deal, "close_date_pushes", 0) or 0) >= SLIPPING_PUSHES


def deal_current_win_prediction(*, deal: Deal) -> Prediction | None:
    """The prefetched current prediction of an annotated deal (see `deals_with_win_probability`)."""
    predictions = getattr(deal, "current_win_predictions", None)
    if predictions is None:
        return (
            Prediction.objects.select_related("model_version")
            .filter(deal_id=deal.id, task=Task.DEAL_WIN, is_current=True)
            .first()
        )
    return predictions[0] if predictions else None


def deal_owner_team_get(*, deal: Deal) -> str | None:
    """The team of the deal's owner (OwnerTeam, edited in admin); None when the owner has none."""
    if not deal.owner_email:
        return None
    teams = OwnerTeam.objects.filter(organization_id=deal.organization_id, owner_email__iexact=deal.owner_email)
    return teams.values_list("team", flat=True).first()


def deals_with_history(*, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
    """Prefetch each deal's recorded changes, newest first, as `history_recent` (one query for the page)."""
    history = DealHistory.objects.order_by("-changed_at", "-id")
    return queryset.prefetch_related(Prefetch("history", queryset=history, to_attr="history_recent"))


def deal_history_list(*, deal_id: int, limit: int = 200) -> QuerySet[DealHistory]:
    """The deal's recorded changes, newest first."""
    return DealHistory.objects.filter(deal_id=deal_id).order_by("-changed_at", "-id")[:limit]


def deal_win_prediction_history(*, deal_id: int, limit: int = 12) -> QuerySet[Prediction]:
    """How the win probability moved: every deal_win prediction of the deal, newest first."""
    return (
        Prediction.objects.filter(deal_id=deal_id, task=Task.DEAL_WIN)
        .select_related("model_version")
        .order_by("-created_at", "-id")[:limit]
    )


def deal_activities_recent(*, deal_id: int, limit: int = 20) -> QuerySet[Activity]:
    return (
        Activity.objects.filter(deal_id=deal_id, deleted_at__isnull=True)
        .select_related("contact")
        .order_by("-occurred_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class WinByMonth:
    month: str  # "YYYY-MM"
    starts: date | None  # the month's first day; None when `month` is not YYYY-MM
    cumulative: float  # P(won by the end of the month)
    in_month: float  # P(won within the month)
    percent: int  # cumulative, 0-100


def deal_win_by_month(*, prediction: Prediction | None) -> list[WinByMonth]:
    """The prediction's cumulative win-by-month curve with each month's own share; malformed entries are
    skipped, and a curve that dips is kept monotone (a cumulative probability cannot fall)."""
    if prediction is None:
        return []
    rows: list[WinByMonth] = []
    previous = 0.0
    for entry in (prediction.details or {}).get("win_by_month") or []:
        if not isinstance(entry, dict):
            continue
        try:
            month, p = str(entry["month"]), float(entry["p"])
        except (KeyError, TypeError, ValueError):
            continue
        cumulative = min(max(p, previous), 1.0)
        rows.append(
            WinByMonth(
                month=month,
                starts=_month_first_day(month),
                cumulative=cumulative,
                in_month=cumulative - previous,
                percent=round(cumulative * 100),
            )
        )
        previous = cumulative
    return rows


def _month_first_day(month: str) -> date | None:
    try:
        return date.fromisoformat(f"{month}-01")
    except ValueError:
        return None
