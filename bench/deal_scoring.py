"""Benchmark: score and forecast 50,000 open deals (pure engine, no database) beside the stage-weighted forecast.

    OMP_NUM_THREADS=2 .venv/bin/python bench/deal_scoring.py [--deals 50000] [--draws 2000] [--threads 2]
        [--families lightgbm,transformer] [--repeat 2]

A synthetic organisation (deals created over 18 months, stage and expected close date that predict the outcome,
owners in teams, two pipelines) trains each family once (not timed). Then, per family and interleaved
(A, B, A, B) with the reference, it times what the nightly run does with `--deals` open deals:
features (snapshot checks + derived fields), calibrated win-by-month probabilities, reasons (occlusion over
every field), and the Monte Carlo forecast (`--draws` draws) per org, team, owner and pipeline. The reference is
the stage-weighted forecast of the same deals (features + stage probability x amount in the close month).
Target (issue 12): scoring + forecasting 50,000 deals under 2 minutes on 2 CPU cores. The database reads and
writes (snapshots from history, Prediction and ForecastRow rows) are not in these numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.engine.deals.forecast import forecast_monte_carlo, stage_weighted_forecast  # noqa: E402
from ml.engine.deals.hazard import cumulative_to_monthly, hazard_rows  # noqa: E402
from ml.engine.deals.models import deal_models_fit  # noqa: E402
from ml.engine.deals.sequences import deal_sequences  # noqa: E402
from ml.engine.deals.transformer import DealNetParams  # noqa: E402

STAGES = {"qualify": (0.1, 0.2), "propose": (0.4, 0.5), "negotiate": (0.6, 0.8)}  # CRM probability, true rate
ORIGIN = pd.Timestamp("2025-07-01")


def deals_generate(*, n: int, seed: int, open_at: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(snapshot frame, outcomes frame); with `open_at`, every deal is open at that moment."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(list(STAGES), size=n, p=[0.4, 0.35, 0.25])
    truth = np.array([STAGES[s][1] for s in stage])
    start = ORIGIN - pd.DateOffset(months=18)
    created = (
        open_at - pd.to_timedelta(rng.uniform(1, 120, n), unit="D")
        if open_at is not None
        else start + pd.to_timedelta(rng.uniform(0, 540, n), unit="D")
    )
    cycle = pd.to_timedelta(rng.gamma(3.0, 15.0, n), unit="D")
    closed = (open_at + cycle) if open_at is not None else created + cycle
    won = rng.random(n) < truth
    owners = np.array([f"rep{i}@example.com" for i in range(200)])
    owner = owners[rng.integers(0, len(owners), n)]
    snapshot = pd.DataFrame(
        {
            "deal_id": np.arange(1, n + 1),
            "name": [f"deal {i}" for i in range(n)],
            "pipeline": rng.choice(["new", "renewal"], size=n),
            "stage": stage,
            "stage_probability": [STAGES[s][0] for s in stage],
            "amount": np.round(rng.lognormal(9, 0.7, n), 2),
            "close_date": (closed + pd.to_timedelta(rng.normal(0, 10, n), unit="D")).normalize(),
            "owner": owner,
            "team": pd.Series(owner).str.extract(r"rep(\d+)")[0].astype(int).floordiv(20).map(lambda t: f"team {t}"),
            "created_at": created,
            "stage_changes": rng.integers(0, 4, n).astype(float),
            "close_date_pushes": rng.integers(0, 3, n).astype(float),
            "days_in_stage": rng.uniform(0, 60, n),
        }
    )
    outcomes = pd.DataFrame(
        {
            "status": np.where(won, "won", "lost"),
            "closed_at": closed,
            "value": np.where(won, snapshot["amount"], np.nan),
        },
        index=snapshot["deal_id"],
    )
    return snapshot, outcomes


def training_rows(seed: int):
    snapshot, outcomes = deals_generate(n=6000, seed=seed)
    origins = pd.date_range(ORIGIN - pd.DateOffset(months=15), ORIGIN - pd.DateOffset(months=4), freq="MS")
    snapshots = {
        o: snapshot[(snapshot["created_at"] < o) & (outcomes["closed_at"].to_numpy() >= o)].reset_index(drop=True)
        for o in origins
    }
    return hazard_rows(snapshots=snapshots, outcomes=outcomes, horizon=3)


def score_and_forecast(models, family: str, snapshot: pd.DataFrame, outcomes: pd.DataFrame, draws: int) -> dict:
    timings = {}
    started = time.perf_counter()
    rows = hazard_rows(snapshots={ORIGIN: snapshot}, outcomes=outcomes, horizon=3)
    sequences = deal_sequences(keys=rows.keys, activities=None, vectors=None)
    timings["features"] = time.perf_counter() - started
    mark = time.perf_counter()
    cumulative = models.cumulative(rows, sequences, family=family)
    monthly = cumulative_to_monthly(cumulative)
    timings["probabilities"] = time.perf_counter() - mark
    mark = time.perf_counter()
    models.chosen = family
    models.reasons(rows, sequences, base=cumulative[:, -1])
    timings["reasons"] = time.perf_counter() - mark
    mark = time.perf_counter()
    scopes = {s: rows.keys[s].astype(str).to_numpy() for s in ("team", "owner", "pipeline")}
    forecast_monte_carlo(
        amounts=rows.keys["amount"].to_numpy(), monthly=monthly, scopes=scopes, draws=draws, shock_sigma=0.2
    )
    timings["monte_carlo"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return timings


def reference(models, snapshot: pd.DataFrame, outcomes: pd.DataFrame) -> dict:
    started = time.perf_counter()
    rows = hazard_rows(snapshots={ORIGIN: snapshot}, outcomes=outcomes, horizon=3)
    stage_weighted_forecast(
        amounts=rows.keys["amount"].to_numpy(),
        probabilities=models.stage_weighted.win_probability(rows),
        close_dates=rows.keys["close_date"],
        origin=ORIGIN,
        horizon=3,
    )
    return {"total": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default="lightgbm,transformer")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    started = time.perf_counter()
    rows = training_rows(seed=0)
    models = deal_models_fit(
        rows=rows,
        sequences=deal_sequences(keys=rows.keys, activities=None, vectors=None),
        families=families,
        lightgbm_configs=4,
        net_params=DealNetParams(max_seconds=60),
    )
    print(
        f"trained {', '.join(families)} on {len(rows)} deal-month rows in {time.perf_counter() - started:.0f}s (not timed)"
    )
    snapshot, outcomes = deals_generate(n=args.deals, seed=1, open_at=ORIGIN)
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):  # interleaved: reference, family A, reference, family B, ...
        for family in families:
            results.setdefault("stage_weighted (reference)", []).append(reference(models, snapshot, outcomes))
            results.setdefault(family, []).append(score_and_forecast(models, family, snapshot, outcomes, args.draws))
    print(f"{args.deals} open deals, {args.draws} draws, {args.threads} thread(s); best of {args.repeat}, seconds")
    steps = ("features", "probabilities", "reasons", "monte_carlo", "total")
    print(f"{'method':<28}" + "".join(f"{s:>14}" for s in steps) + f"{'x reference':>14}")
    best_reference = min(r["total"] for r in results["stage_weighted (reference)"])
    for name, runs in results.items():
        best = min(runs, key=lambda r: r["total"])
        cells = "".join(f"{best[s]:>14.2f}" if s in best else f"{'':>14}" for s in steps)
        print(f"{name:<28}{cells}{best['total'] / best_reference:>14.1f}")


if __name__ == "__main__":
    main()
