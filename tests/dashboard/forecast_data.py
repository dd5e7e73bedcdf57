"""One organisation's deals, deal scores, deal history and stored forecasts, written row by row (the way
ml.deal_services stores them), for the forecast page, the deal page and the deal/forecast API tests."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ml.models import ForecastRow, ForecastSnapshot, Task
from salesai.core.models import Deal, DealHistory, Organization, OwnerTeam
from salesai.dashboard.forecast_selectors import month_add, month_start
from tests.factories import ActivityFactory, DealFactory, ModelVersionFactory, PredictionFactory

REASONS = [  # shaped like the deal model's factors: "<name> = <value>" labels
    {"feature": "stage", "label": "Stage = default / negotiation", "direction": "+", "weight": 0.21},
    {"feature": "emails_30d", "label": "Buyer replied to 4 emails this month", "direction": "+", "weight": 0.12},
    {"feature": "close_date_pushes", "label": "Close date pushed = 1", "direction": "-", "weight": 0.06},
]
# The same reasons as the pages and the API say them.
REASON_TEXTS = [
    "At stage “negotiation” of default",
    "Buyer replied to 4 emails this month",
    "Close date pushed later once",
]


@dataclass
class ForecastData:
    organization: Organization
    today: date
    months: list[date]
    big: Deal  # scored 0.72, owner alice (team Enterprise), behind every month
    mid: Deal  # scored 0.35, owner bob
    passed: Deal  # open, close date passed: slipping
    pushed: Deal  # open, close date pushed twice: slipping
    won: Deal  # won last month
    unscored: Deal
    snapshot: ForecastSnapshot
    stage_weighted: ForecastSnapshot
    past: ForecastSnapshot  # made before last month began; last month has closed
    predictions: dict[str, Any] = field(default_factory=dict)


def _at(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(9, 0)))


def _history(deal: Deal, field_name: str, old: str, new: str, day: date) -> None:
    DealHistory.objects.create(
        organization=deal.organization,
        deal=deal,
        field=field_name,
        old_value=old,
        new_value=new,
        changed_at=_at(day),
        source=DealHistory.Source.SYNC,
    )


def _deal(organization: Organization, **fields: Any) -> Deal:
    amount = fields.pop("amount")
    return DealFactory(
        organization=organization, amount=amount, amount_base=amount, currency=organization.base_currency, **fields
    )


def _score(deal: Deal, model_version: Any, probability: float, curve: list[tuple[date, float]]) -> Any:
    return PredictionFactory(
        organization=deal.organization,
        contact=None,
        deal=deal,
        task=Task.DEAL_WIN,
        model_version=model_version,
        probability=probability,
        top_factors=REASONS,
        details={
            "expected_close": (curve[0][0] + timedelta(days=20)).isoformat(),
            "win_by_month": [{"month": month.strftime("%Y-%m"), "p": p} for month, p in curve],
            "horizon_months": len(curve),
        },
    )


def _row(snapshot: ForecastSnapshot, scope: str, value: str, month: date, expected: int, **extra: Any) -> None:
    ForecastRow.objects.create(
        snapshot=snapshot, scope=scope, scope_value=value, month=month, expected=Decimal(expected), **extra
    )


def make_forecast_data(organization: Organization) -> ForecastData:
    today = timezone.localdate()
    this_month = month_start(today)
    months = [this_month, month_add(this_month, 1), month_add(this_month, 2)]
    last_month = month_add(this_month, -1)
    model_version = ModelVersionFactory(organization=organization, task=Task.DEAL_WIN, architecture="deal-transformer")
    OwnerTeam.objects.create(organization=organization, owner_email="alice@example.test", team="Enterprise")

    big = _deal(
        organization,
        name="Globex renewal",
        amount=120000,
        stage="negotiation",
        owner_email="alice@example.test",
        close_date=this_month + timedelta(days=20),
    )
    mid = _deal(
        organization,
        name="Initech pilot",
        amount=40000,
        stage="proposal",
        owner_email="bob@example.test",
        close_date=months[1] + timedelta(days=5),
    )
    passed = _deal(
        organization,
        name="Umbrella upgrade",
        amount=25000,
        stage="proposal",
        owner_email="bob@example.test",
        close_date=today - timedelta(days=10),
    )
    pushed = _deal(
        organization,
        name="Hooli expansion",
        amount=60000,
        stage="qualified",
        owner_email="alice@example.test",
        close_date=today + timedelta(days=60),
    )
    won = _deal(
        organization,
        name="Vandelay import",
        amount=90000,
        stage="closed won",
        status=Deal.Status.WON,
        closed_at=_at(last_month + timedelta(days=3)),
        close_date=last_month,
    )
    unscored = _deal(organization, name="Stark trial", amount=5000, stage="lead", close_date=months[2])

    # History: the creation rows, a stage move and an amount change on `big`, two pushes on `pushed`.
    start = today - timedelta(days=90)
    for deal in (big, mid, passed, pushed):
        _history(deal, DealHistory.Field.STAGE, "", "qualified", start)
        _history(deal, DealHistory.Field.CLOSE_DATE, "", (start + timedelta(days=30)).isoformat(), start)
    _history(big, DealHistory.Field.STAGE, "qualified", "negotiation", today - timedelta(days=12))
    _history(big, DealHistory.Field.AMOUNT, "100000.00", "120000.00", today - timedelta(days=20))
    _history(
        pushed,
        DealHistory.Field.CLOSE_DATE,
        (start + timedelta(days=30)).isoformat(),
        (start + timedelta(days=60)).isoformat(),
        today - timedelta(days=40),
    )
    _history(
        pushed,
        DealHistory.Field.CLOSE_DATE,
        (start + timedelta(days=60)).isoformat(),
        (today + timedelta(days=60)).isoformat(),
        today - timedelta(days=5),
    )
    ActivityFactory(organization=organization, deal=big, kind="meeting", subject="Pricing review with procurement")

    predictions = {
        "big": _score(big, model_version, 0.72, [(months[0], 0.40), (months[1], 0.62), (months[2], 0.72)]),
        "mid": _score(mid, model_version, 0.35, [(months[0], 0.05), (months[1], 0.25), (months[2], 0.35)]),
        "passed": _score(passed, model_version, 0.18, [(months[0], 0.10), (months[1], 0.15), (months[2], 0.18)]),
        "pushed": _score(pushed, model_version, 0.22, [(months[0], 0.02), (months[1], 0.10), (months[2], 0.22)]),
    }

    snapshot = ForecastSnapshot.objects.create(
        organization=organization,
        as_of=today,
        model_version=model_version,
        method=ForecastSnapshot.Method.OUR,
        currency=organization.base_currency,
        months=[m.isoformat() for m in months],
    )
    org_values = [(61000, 20000, 55000, 110000), (52000, 12000, 45000, 98000), (40000, 5000, 33000, 85000)]
    for month, (expected, p10, p50, p90), big_share, mid_share in zip(
        months, org_values, (48000, 26400, 12000), (2000, 8000, 4000), strict=True
    ):
        _row(
            snapshot,
            ForecastRow.Scope.ORG,
            "",
            month,
            expected,
            p10=p10,
            p50=p50,
            p90=p90,
            open_pipeline_part=expected - 9000,
            new_deal_part=9000,
            top_deals=[
                {"deal_id": big.id, "name": big.name, "expected_contribution": big_share, "probability": 0.4},
                {"deal_id": mid.id, "name": mid.name, "expected_contribution": mid_share, "probability": 0.05},
            ],
        )
        _row(
            snapshot,
            ForecastRow.Scope.OWNER,
            "alice@example.test",
            month,
            expected - 15000,
            p10=p10 // 2,
            p90=p90 - 10000,
        )
        _row(snapshot, ForecastRow.Scope.OWNER, "bob@example.test", month, 15000, p10=0, p90=40000)
        _row(snapshot, ForecastRow.Scope.TEAM, "Enterprise", month, expected - 15000, p10=p10 // 2, p90=p90 - 10000)
        _row(snapshot, ForecastRow.Scope.PIPELINE, "default", month, expected, p10=p10, p90=p90)

    stage_weighted = ForecastSnapshot.objects.create(
        organization=organization,
        as_of=today,
        method=ForecastSnapshot.Method.STAGE_WEIGHTED,
        currency=organization.base_currency,
        months=[m.isoformat() for m in months],
    )
    for month, expected in zip(months, (97000, 30000, 12000), strict=True):
        _row(stage_weighted, ForecastRow.Scope.ORG, "", month, expected)

    # Last month: ours said 100k (60k-150k) and 90k were booked; the stage-weighted pipeline said 180k.
    past = ForecastSnapshot.objects.create(
        organization=organization,
        as_of=last_month,
        model_version=model_version,
        method=ForecastSnapshot.Method.OUR,
        currency=organization.base_currency,
        months=[last_month.isoformat(), this_month.isoformat(), months[1].isoformat()],
    )
    _row(past, ForecastRow.Scope.ORG, "", last_month, 100000, p10=60000, p50=95000, p90=150000)
    _row(past, ForecastRow.Scope.ORG, "", this_month, 70000, p10=30000, p50=66000, p90=120000)
    past_stage_weighted = ForecastSnapshot.objects.create(
        organization=organization,
        as_of=last_month,
        method=ForecastSnapshot.Method.STAGE_WEIGHTED,
        currency=organization.base_currency,
        months=[last_month.isoformat()],
    )
    _row(past_stage_weighted, ForecastRow.Scope.ORG, "", last_month, 180000)
    # Runs made last month were stored last month (created_at is set on insert).
    ForecastSnapshot.objects.filter(pk__in=[past.pk, past_stage_weighted.pk]).update(created_at=_at(last_month))

    return ForecastData(
        organization=organization,
        today=today,
        months=months,
        big=big,
        mid=mid,
        passed=passed,
        pushed=pushed,
        won=won,
        unscored=unscored,
        snapshot=snapshot,
        stage_weighted=stage_weighted,
        past=past,
        predictions=predictions,
    )
