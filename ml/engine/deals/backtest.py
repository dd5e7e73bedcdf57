"""Rolling-origin backtest of the bookings forecast and the per-deal win models. Pure code: no Django.

For each monthly origin o: the models are trained only on rows of earlier origins labelled as known at o
(ml.engine.deals.hazard censors everything later), the new-deal run-rate reads only wins closed before o, the
baselines read o's snapshot and bookings before o. Then the next H months' actual bookings score every method:
WAPE = sum |actual - forecast| / sum actual over all (origin, month) pairs, and the share of those months inside
the 10-90% interval (methods with intervals). Per-deal ROC-AUC and Brier of "won within H months" per family
are measured on o's open deals whose outcome is known at the end of the data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.engine.deals.forecast import (
    ORG,
    commit_forecast,
    forecast_monte_carlo,
    month_shock_sigma,
    monthly_bookings,
    new_deal_samples,
    run_rate_forecast,
    stage_weighted_forecast,
)
from ml.engine.deals.frames import deal_schema, month_add, month_start
from ml.engine.deals.hazard import HazardRows, cumulative_to_monthly, hazard_rows
from ml.engine.deals.models import FAMILIES, deal_metrics, deal_models_fit
from ml.engine.deals.sequences import deal_sequences
from ml.engine.deals.transformer import DealNetParams

METHODS = ("our", "stage_weighted", "commit", "run_rate")


@dataclass
class DealSource:
    """Point-in-time access to one organisation's deals (or a data set)."""

    snapshot_at: Callable[[pd.Timestamp], pd.DataFrame]
    outcomes: pd.DataFrame  # index deal_id: status, closed_at, value (as finally known)
    deals: pd.DataFrame  # deal_id, created_at, status, closed_at, value (+ owner, team, pipeline)
    data_end: pd.Timestamp  # nothing is known from here on
    # The earliest origin worth building rows from: origins before any deal ever closed would teach "nothing
    # is ever won" (month_start of the first close is the usual choice, `first_close_month`).
    first_origin: pd.Timestamp
    extra: tuple[str, ...] = ()
    activities: pd.DataFrame | None = None  # deal_id, occurred_at, kind, direction, text_index
    vectors: np.ndarray | None = None

    def rows_at(self, origins: list[pd.Timestamp], *, known_until: pd.Timestamp | None, horizon: int) -> HazardRows:
        snapshots = {origin: self.snapshot_at(origin) for origin in origins}
        return hazard_rows(
            snapshots=snapshots, outcomes=self.outcomes, horizon=horizon, known_until=known_until, extra=self.extra
        )

    def sequences(self, rows: HazardRows):  # noqa: ANN201 - ActivitySequences
        return deal_sequences(keys=rows.keys, activities=self.activities, vectors=self.vectors)


@dataclass
class BacktestResult:
    horizon: int
    origins: list[str] = field(default_factory=list)
    months: list[dict[str, Any]] = field(default_factory=list)  # one per (origin, month ahead)
    deal_metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # family -> per origin
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        table = pd.DataFrame(self.months)
        methods: dict[str, Any] = {}
        names = [c[: -len("_forecast")] for c in table.columns if c.endswith("_forecast")] if len(table) else []
        actual = table["actual"].to_numpy(dtype=float) if len(table) else np.zeros(0)
        for name in names:
            forecast = table[f"{name}_forecast"].to_numpy(dtype=float)
            wape = float(np.abs(actual - forecast).sum() / actual.sum()) if actual.sum() > 0 else None
            coverage = None
            if f"{name}_p10" in table:
                inside = (table[f"{name}_p10"] <= table["actual"]) & (table["actual"] <= table[f"{name}_p90"])
                coverage = float(inside.mean())
            methods[name] = {"wape": wape, "coverage_80": coverage, "months": int(len(table))}
        families = {}
        for family, entries in self.deal_metrics.items():
            aucs = [e["roc_auc"] for e in entries if e.get("roc_auc") is not None]
            briers = [e["brier"] for e in entries if e.get("brier") is not None]
            families[family] = {
                "roc_auc_mean": _mean(aucs),
                "roc_auc_sd": _sd(aucs),
                "brier_mean": _mean(briers),
                "brier_sd": _sd(briers),
                "origins": len(aucs),
            }
        return {"horizon": self.horizon, "origins": self.origins, "methods": methods, "deal_win": families}


def backtest_run(
    *,
    source: DealSource,
    origins: list[pd.Timestamp],
    horizon: int = 3,
    families: tuple[str, ...] = FAMILIES,
    draws: int = 2000,
    seed: int = 0,
    lightgbm_configs: int = 8,
    net_params: DealNetParams | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> BacktestResult:
    started = time.perf_counter()
    result = BacktestResult(horizon=horizon)
    bookings = monthly_bookings(source.outcomes)
    schema = deal_schema(extra=source.extra)
    for origin in origins:
        origin = month_start(origin)
        if month_add(origin, horizon) > source.data_end:
            raise ValueError(f"origin {origin:%Y-%m} + {horizon} months runs past the end of the data")
        past = _origins_between(source.first_origin, origin)
        train = source.rows_at(past, known_until=origin, horizon=horizon)
        train = train.take(np.flatnonzero(train.mask.any(axis=1)))
        models = deal_models_fit(
            rows=train,
            sequences=source.sequences(train),
            schema=schema,
            seed=seed,
            lightgbm_configs=lightgbm_configs,
            net_params=net_params or DealNetParams(seed=seed),
            families=families,
        )
        now = source.rows_at([origin], known_until=source.data_end, horizon=horizon)
        sequences = source.sequences(now)
        known = ~np.isnan(now.won_within)
        for family in [*models.families, "stage_weighted"]:
            probability = models.win_probability(now, sequences, family=family)
            entry = {"origin": f"{origin:%Y-%m}", **deal_metrics(now.won_within[known], probability[known])}
            result.deal_metrics.setdefault(family, []).append(entry)
        amounts = now.keys["amount"].to_numpy(dtype=float)
        samples = new_deal_samples(deals=source.deals, origin=origin, horizon=horizon, earliest=source.first_origin)
        sigma = month_shock_sigma(bookings=bookings, origin=origin)
        ours = {}
        for family in models.families:
            monthly = cumulative_to_monthly(models.cumulative(now, sequences, family=family))
            ours[family] = forecast_monte_carlo(
                amounts=amounts, monthly=monthly, new_deal_samples=samples, draws=draws, seed=seed, shock_sigma=sigma
            )[(ORG, "")]
        stage_probability = models.stage_weighted.win_probability(now)
        close_dates = now.keys["close_date"]
        baselines = {
            "stage_weighted": stage_weighted_forecast(
                amounts=amounts,
                probabilities=stage_probability,
                close_dates=close_dates,
                origin=origin,
                horizon=horizon,
            ),
            "commit": commit_forecast(amounts=amounts, close_dates=close_dates, origin=origin, horizon=horizon),
            "run_rate": run_rate_forecast(bookings=bookings, origin=origin, horizon=horizon),
        }
        served = ours[models.chosen]
        for k in range(horizon):
            month = month_add(origin, k)
            row = {
                "origin": f"{origin:%Y-%m}",
                "month": f"{month:%Y-%m}",
                "k": k + 1,
                "actual": float(bookings.get(month, 0.0)),
                "our_forecast": float(served.expected[k]),
                "our_p10": float(served.p10[k]),
                "our_p90": float(served.p90[k]),
                "served_family": models.chosen,
            }
            for family, forecast in ours.items():
                row[f"our_{family}_forecast"] = float(forecast.expected[k])
                row[f"our_{family}_p10"] = float(forecast.p10[k])
                row[f"our_{family}_p90"] = float(forecast.p90[k])
            for name, values in baselines.items():
                row[f"{name}_forecast"] = float(values[k])
            result.months.append(row)
        result.origins.append(f"{origin:%Y-%m}")
        log(
            f"origin {origin:%Y-%m}: trained on {len(train)} rows of {len(past)} origins, {len(now)} open deals, "
            f"served {models.chosen}; {time.perf_counter() - started:.0f}s"
        )
    result.seconds = time.perf_counter() - started
    return result


def backtest_table(summary: dict[str, Any]) -> str:
    lines = [f"Bookings forecast, {len(summary['origins'])} monthly origins x {summary['horizon']} months ahead"]
    lines.append(f"{'method':<26}{'WAPE':>8}{'coverage 80%':>15}")
    for name, entry in summary["methods"].items():
        coverage = "n/a" if entry["coverage_80"] is None else f"{entry['coverage_80']:.2f}"
        wape = "n/a" if entry["wape"] is None else f"{entry['wape']:.3f}"
        lines.append(f"{name:<26}{wape:>8}{coverage:>15}")
    lines.append("")
    lines.append("Deal win within the horizon (open deals at each origin; mean ± sd over origins)")
    lines.append(f"{'family':<18}{'ROC-AUC':>18}{'Brier':>18}")
    for family, entry in summary["deal_win"].items():
        auc = _pm(entry["roc_auc_mean"], entry["roc_auc_sd"])
        brier = _pm(entry["brier_mean"], entry["brier_sd"])
        lines.append(f"{family:<18}{auc:>18}{brier:>18}")
    return "\n".join(lines)


def backtest_origins(*, source: DealSource, horizon: int, count: int, min_train_origins: int = 2) -> list[pd.Timestamp]:
    """The last `count` monthly origins whose H months have ended in the data, each with at least
    `min_train_origins` earlier origins to learn from (chosen by the data's dates, never by results)."""
    last = month_add(month_start(source.data_end), -horizon)  # a month is complete only once data_end passed it
    first = month_add(source.first_origin, min_train_origins)
    origins = _origins_between(first, month_add(last, 1))
    if not origins:
        raise ValueError("too little history for a backtest: no origin has both training months and a full horizon")
    return origins[-count:]


def first_close_month(outcomes: pd.DataFrame) -> pd.Timestamp:
    closed = pd.to_datetime(outcomes["closed_at"]).dropna()
    if closed.empty:
        raise ValueError("no deal has closed yet: nothing to learn or backtest from")
    return month_start(closed.min())


def _origins_between(first: pd.Timestamp, origin: pd.Timestamp) -> list[pd.Timestamp]:
    out, current = [], month_start(first)
    while current < origin:
        out.append(current)
        current = month_add(current, 1)
    return out


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _sd(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def _pm(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {sd:.3f}" if sd is not None else f"{mean:.3f}"
