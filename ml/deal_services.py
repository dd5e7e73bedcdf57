"""Deals: train the win-by-month models, score open deals, create forecast snapshots. Django side (writes).

The models and the forecast are pure (ml.engine.deals); this module reads the organisation's point-in-time
deals (ml.deal_features), registers versions through the shared registry and gate (ml.model_versions, task
deal_win), writes Prediction rows with `deal` set (history kept, one current per deal) and ForecastSnapshot /
ForecastRow per run, filling `actual` of months that have closed since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ml.beat import deal_schedules_ensure
from ml.deal_features import deal_source_build
from ml.engine.deals.backtest import DealSource, _origins_between
from ml.engine.deals.forecast import (
    ORG,
    bookings_so_far,
    commit_forecast,
    forecast_monte_carlo,
    month_shock_sigma,
    monthly_bookings,
    new_deal_samples,
    run_rate_forecast,
    stage_weighted_forecast,
)
from ml.engine.deals.frames import month_add, month_start
from ml.engine.deals.hazard import HazardRows, cumulative_to_monthly, hazard_rows
from ml.engine.deals.models import FAMILIES, DealModels, deal_models_fit
from ml.engine.gate import ChampionEvidence, FamilyChoice
from ml.model_versions import model_version_gate_decide, model_version_register
from ml.models import ForecastRow, ForecastSnapshot, ModelVersion, Prediction, Task
from salesai.core.models import Deal, Organization

HORIZON_MONTHS = 3
FORECAST_DRAWS = 2000
TOP_DEALS = 5
SCOPES = ("team", "owner", "pipeline")
ARCHITECTURE = "deal_hazard"


def deal_model_train(
    *, organization_id: int, now: dt.datetime | None = None, seed: int = 0, families: tuple[str, ...] = FAMILIES
) -> ModelVersion:
    """Fit every family on all monthly origins known now, register the served one with the gate's decision."""
    organization = Organization.objects.get(pk=organization_id)
    now = now or timezone.now()
    source = deal_source_build(organization_id=organization_id, now=now)
    origins = _origins_between(source.first_origin, month_start(source.data_end))
    rows = source.rows_at(origins, known_until=source.data_end, horizon=HORIZON_MONTHS)
    rows = rows.take(np.flatnonzero(rows.mask.any(axis=1)))
    models = deal_models_fit(rows=rows, sequences=source.sequences(rows), seed=seed, families=families)
    metrics = {
        **(models.metrics.get(models.chosen) or {}),
        "families": models.metrics,
        "family": models.chosen,
        "horizon_months": HORIZON_MONTHS,
        "errors": models.errors,
    }
    choice = FamilyChoice(family=models.chosen, reasons=models.choice_reasons or [f"{models.chosen} serves"])

    def decide(champion: ModelVersion | None) -> dict[str, Any]:
        evidence = (
            None if champion is None else ChampionEvidence(model_version_id=champion.id, metrics=champion.metrics)
        )
        return model_version_gate_decide(choice=choice, candidate_metrics=metrics, champion=evidence)

    def write(path: Path, meta: dict[str, Any]) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps({"models": models, "meta": meta}, protocol=pickle.HIGHEST_PROTOCOL)
        path.write_bytes(payload)
        return hashlib.sha256(payload).hexdigest()

    version = model_version_register(
        organization=organization,
        task=Task.DEAL_WIN,
        architecture=f"{ARCHITECTURE}:{models.chosen}",
        artifact_relative=lambda version: f"{organization.slug}/deal_win/v{version}.pkl",
        artifact_write=write,
        trained_groups=rows.keys["deal_id"].to_numpy(),
        metrics=metrics,
        feature_schema=models.schema.to_dict(),
        trained_rows=len(rows),
        decide=decide,
    )
    deal_schedules_ensure(organization_id=organization_id)
    return version


def deal_models_load(*, model_version: ModelVersion) -> DealModels:
    from ml.registry import artifact_absolute_path

    payload = artifact_absolute_path(model_version.artifact_path).read_bytes()
    if model_version.artifact_sha256 and hashlib.sha256(payload).hexdigest() != model_version.artifact_sha256:
        raise ValueError(f"artifact of model version {model_version.pk} does not match its sha256")
    return pickle.loads(payload)["models"]  # noqa: S301 - our own artifact, checked against the stored sha256


def deals_score(*, organization_id: int, now: dt.datetime | None = None) -> int:
    """Score every open deal with the champion: win probability within the horizon, win-by-month, expected
    close and reasons. Returns the number scored (0 without a champion). Idempotent but for history rows."""
    champion = _champion(organization_id=organization_id)
    if champion is None:
        return 0
    models = deal_models_load(model_version=champion)
    now = now or timezone.now()
    source = deal_source_build(organization_id=organization_id, now=now)
    origin, rows = _current_rows(source=source, now=now, horizon=models.horizon)
    if not len(rows):
        return 0
    sequences = source.sequences(rows)
    cumulative = models.cumulative(rows, sequences)
    reasons = models.reasons(rows, sequences, base=cumulative[:, -1])
    predictions = []
    for position, deal_id in enumerate(rows.keys["deal_id"].to_numpy()):
        by_month = cumulative[position]
        probability = float(by_month[-1])
        predictions.append(
            Prediction(
                organization_id=organization_id,
                model_version=champion,
                task=Task.DEAL_WIN,
                deal_id=int(deal_id),
                probability=probability,
                model_probability=probability,
                score=int(round(probability * 100)),
                top_factors=reasons[position],
                details=_details(origin=origin, cumulative=by_month),
            )
        )
    deal_ids = [p.deal_id for p in predictions]
    with transaction.atomic():
        list(Deal.objects.select_for_update().filter(id__in=deal_ids).order_by("id").values_list("id"))
        Prediction.objects.filter(deal_id__in=deal_ids, task=Task.DEAL_WIN, is_current=True).update(is_current=False)
        Prediction.objects.bulk_create(predictions, batch_size=1000)
    return len(predictions)


def deals_nightly_run(*, organization_id: int) -> dict[str, Any]:
    """Train (when the organisation has won and lost deals), score, forecast (reusing today's forecast)."""
    summary: dict[str, Any] = {"organization_id": organization_id}
    try:
        version = deal_model_train(organization_id=organization_id)
        summary["model_version_id"], summary["status"] = version.id, version.status
    except ValueError as exc:  # too little history: keep whatever model there is
        summary["training_skipped"] = str(exc)
    summary["scored"] = deals_score(organization_id=organization_id)
    if _champion(organization_id=organization_id) is not None:
        summary["forecast_snapshot_id"] = forecast_create(organization_id=organization_id, reuse_same_day=True).id
    return summary


def forecast_create(
    *, organization_id: int, as_of: dt.datetime | None = None, seed: int = 0, reuse_same_day: bool = False
) -> ForecastSnapshot:
    """Our forecast (Monte Carlo over the champion's win-by-month probabilities + new deals) and the three
    baselines, each a ForecastSnapshot with rows per scope and month; `actual` of closed months filled.
    `reuse_same_day`: a forecast of today by the same champion is returned instead of a new one."""
    organization = Organization.objects.get(pk=organization_id)
    now = as_of or timezone.now()
    champion = _champion(organization_id=organization_id)
    if champion is None:
        raise ValueError("no deal model yet: train one first (ml_train --task deal_win)")
    if reuse_same_day:
        existing = ForecastSnapshot.objects.filter(
            organization=organization, as_of=now.date(), model_version=champion, method=ForecastSnapshot.Method.OUR
        ).first()
        if existing is not None:
            forecast_actuals_fill(organization_id=organization_id, now=now)
            return existing
    models = deal_models_load(model_version=champion)
    source = deal_source_build(organization_id=organization_id, now=now, with_text=True)
    origin, rows = _current_rows(source=source, now=now, horizon=models.horizon)
    horizon = models.horizon
    moment = _naive_utc(now)
    months = [month_add(origin, k) for k in range(horizon)]
    bookings = monthly_bookings(source.outcomes)
    amounts = rows.keys["amount"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
    monthly = (
        cumulative_to_monthly(models.cumulative(rows, source.sequences(rows))) if len(rows) else np.zeros((0, horizon))
    )
    scopes = {scope: rows.keys[scope].fillna("").astype(str).to_numpy() for scope in SCOPES} if len(rows) else {}
    samples = new_deal_samples(
        deals=source.deals, origin=origin, horizon=horizon, scopes=SCOPES, earliest=source.first_origin, now=moment
    )
    result = forecast_monte_carlo(
        amounts=amounts,
        monthly=monthly,
        scopes=scopes,
        new_deal_samples=samples,
        draws=FORECAST_DRAWS,
        seed=seed,
        shock_sigma=month_shock_sigma(bookings=bookings, origin=origin),
        booked=bookings_so_far(deals=source.deals, origin=origin, now=moment, horizon=horizon, scopes=SCOPES),
    )
    top = _top_deals(rows=rows, monthly=monthly, scopes=scopes)
    with transaction.atomic():
        snapshot = ForecastSnapshot.objects.create(
            organization=organization,
            as_of=now.date(),
            model_version=champion,
            method=ForecastSnapshot.Method.OUR,
            currency=organization.base_currency,
            months=[m.date().isoformat() for m in months],
        )
        ForecastRow.objects.bulk_create(
            [
                ForecastRow(
                    snapshot=snapshot,
                    scope=scope,
                    scope_value=value,
                    month=months[k].date(),
                    expected=_money(forecast.expected[k]),
                    p10=_money(forecast.p10[k]),
                    p50=_money(forecast.p50[k]),
                    p90=_money(forecast.p90[k]),
                    open_pipeline_part=_money(forecast.open_pipeline[k]),
                    new_deal_part=_money(forecast.new_deals[k]),
                    top_deals=top.get((scope, value, k), []),
                )
                for (scope, value), forecast in result.items()
                for k in range(horizon)
            ],
            batch_size=1000,
        )
        _baseline_snapshots(
            organization=organization, now=now, origin=origin, rows=rows, models=models, bookings=bookings
        )
    forecast_actuals_fill(organization_id=organization_id, now=now)
    return snapshot


def forecast_actuals_fill(*, organization_id: int, now: dt.datetime | None = None) -> int:
    """Fill `actual` (won amount in the base currency) of forecast rows whose month has ended."""
    now = now or timezone.now()
    this_month = month_start(
        pd.Timestamp(now).tz_localize(None)
        if pd.Timestamp(now).tzinfo is None
        else pd.Timestamp(now).tz_convert("UTC").tz_localize(None)
    ).date()
    open_rows = ForecastRow.objects.filter(
        snapshot__organization_id=organization_id, actual__isnull=True, month__lt=this_month
    ).select_related("snapshot")
    updated = []
    cache: dict[tuple[str, str, dt.date], Decimal] = {}
    for row in open_rows.iterator(chunk_size=2000):
        key = (row.scope, row.scope_value, row.month)
        if key not in cache:
            cache[key] = _won_in_month(
                organization_id=organization_id, scope=row.scope, value=row.scope_value, month=row.month
            )
        row.actual = cache[key]
        updated.append(row)
    ForecastRow.objects.bulk_update(updated, ["actual"], batch_size=1000)
    return len(updated)


def _won_in_month(*, organization_id: int, scope: str, value: str, month: dt.date) -> Decimal:
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=dt.UTC)
    deals = Deal.objects.filter(
        organization_id=organization_id, status=Deal.Status.WON, closed_at__gte=start, closed_at__lt=end
    )
    if scope == ForecastRow.Scope.OWNER:
        deals = deals.filter(owner_email=value)
    elif scope == ForecastRow.Scope.PIPELINE:
        deals = deals.filter(pipeline=value)
    elif scope == ForecastRow.Scope.TEAM:
        from salesai.core.models import OwnerTeam

        owners = OwnerTeam.objects.filter(organization_id=organization_id, team=value).values("owner_email")
        deals = (
            deals.filter(owner_email__in=owners)
            if value
            else deals.exclude(
                owner_email__in=OwnerTeam.objects.filter(organization_id=organization_id).values("owner_email")
            )
        )
    return deals.aggregate(total=Sum("amount_base"))["total"] or Decimal("0")


def _champion(*, organization_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        organization_id=organization_id, task=Task.DEAL_WIN, status=ModelVersion.Status.CHAMPION
    ).first()


def _current_rows(*, source: DealSource, now: dt.datetime, horizon: int) -> tuple[pd.Timestamp, HazardRows]:
    """Open deals now; month 1 of the horizon is the current calendar month. Fields are measured at `now` (a
    deal created since the month began would otherwise have a negative age, unlike any training row); the model
    then reads the rest of this month as its month 1 (trained on month starts, so late in a month month 1 is
    an upper bound)."""
    naive = _naive_utc(now)
    snapshot = source.snapshot_at(naive)
    rows = hazard_rows(snapshots={naive: snapshot}, outcomes=source.outcomes, horizon=horizon, known_until=None)
    return month_start(naive), rows


def _naive_utc(moment: dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _details(*, origin: pd.Timestamp, cumulative: np.ndarray) -> dict[str, Any]:
    total = float(cumulative[-1])
    expected_close = None
    if total > 0:
        # If it is won within the horizon, the month by which that is more likely than not.
        month = int(np.argmax(cumulative >= total / 2))
        expected_close = (month_add(origin, month + 1) - pd.Timedelta(days=1)).date().isoformat()
    return {
        "expected_close": expected_close,
        "win_by_month": [
            {"month": f"{month_add(origin, k):%Y-%m}", "p": round(float(p), 4)} for k, p in enumerate(cumulative)
        ],
        "horizon_months": len(cumulative),
    }


def _top_deals(
    *, rows: HazardRows, monthly: np.ndarray, scopes: dict[str, np.ndarray]
) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    if not len(rows):
        return {}
    amounts = np.nan_to_num(rows.keys["amount"].to_numpy(dtype=float))
    out: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    groups = {ORG: np.full(len(rows), "", dtype=object), **scopes}
    for k in range(monthly.shape[1]):
        contribution = amounts * monthly[:, k]
        frame = pd.DataFrame({"row": np.arange(len(rows)), "c": contribution})
        for scope, values in groups.items():
            frame["scope"] = values
            best = frame[frame["c"] > 0].sort_values("c", ascending=False).groupby("scope").head(TOP_DEALS)
            for value, part in best.groupby("scope"):
                out[(scope, str(value), k)] = [
                    {
                        "deal_id": int(rows.keys["deal_id"].iat[r]),
                        "name": str(rows.keys["name"].iat[r]),
                        "expected_contribution": round(float(c), 2),
                        "probability": round(float(monthly[r, k]), 4),
                    }
                    for r, c in zip(part["row"], part["c"], strict=True)
                ]
    return out


def _baseline_snapshots(
    *,
    organization: Organization,
    now: dt.datetime,
    origin: pd.Timestamp,
    rows: HazardRows,
    models: DealModels,
    bookings: pd.Series,
) -> None:
    horizon = models.horizon
    amounts = rows.keys["amount"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
    close_dates = rows.keys["close_date"] if len(rows) else pd.Series([], dtype="datetime64[ns]")
    probability = models.stage_weighted.win_probability(rows) if len(rows) else np.zeros(0)
    values = {
        ForecastSnapshot.Method.STAGE_WEIGHTED: stage_weighted_forecast(
            amounts=amounts, probabilities=probability, close_dates=close_dates, origin=origin, horizon=horizon
        ),
        ForecastSnapshot.Method.COMMIT: commit_forecast(
            amounts=amounts, close_dates=close_dates, origin=origin, horizon=horizon
        ),
        ForecastSnapshot.Method.RUN_RATE: run_rate_forecast(bookings=bookings, origin=origin, horizon=horizon),
    }
    months = [month_add(origin, k) for k in range(horizon)]
    for method, forecast in values.items():
        snapshot = ForecastSnapshot.objects.create(
            organization=organization,
            as_of=now.date(),
            method=method,
            currency=organization.base_currency,
            months=[m.date().isoformat() for m in months],
        )
        ForecastRow.objects.bulk_create(
            [
                ForecastRow(
                    snapshot=snapshot,
                    scope=ForecastRow.Scope.ORG,
                    scope_value="",
                    month=months[k].date(),
                    expected=_money(forecast[k]),
                    open_pipeline_part=_money(forecast[k]) if method != ForecastSnapshot.Method.RUN_RATE else 0,
                )
                for k in range(horizon)
            ]
        )


def _money(value: float) -> Decimal:
    return Decimal(str(round(float(value), 2)))
