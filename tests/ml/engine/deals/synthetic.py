"""A small synthetic deal world for the engine tests: deals created monthly, each either won, lost or still
open, with a stage that predicts winning and an expected close date that predicts when."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.engine.deals.backtest import DealSource


def synthetic_deals(*, n: int = 900, seed: int = 0, start: str = "2024-01-01", months: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    created = start_ts + pd.to_timedelta(rng.uniform(0, months * 30.4, n), unit="D")
    stage = rng.choice(["qualify", "propose", "negotiate"], size=n, p=[0.4, 0.35, 0.25])
    p_win = pd.Series(stage).map({"qualify": 0.2, "propose": 0.5, "negotiate": 0.8}).to_numpy()
    won = rng.random(n) < p_win
    cycle = rng.gamma(3.0, 15.0, n)
    closed = created + pd.to_timedelta(cycle, unit="D")
    end = start_ts + pd.DateOffset(months=months)
    status = np.where(closed >= end, "open", np.where(won, "won", "lost"))
    amount = np.round(rng.lognormal(9, 0.6, n), 2)
    return pd.DataFrame(
        {
            "deal_id": np.arange(1, n + 1),
            "name": [f"deal {i}" for i in range(1, n + 1)],
            "pipeline": rng.choice(["new", "renewal"], size=n),
            "stage": stage,
            "stage_probability": pd.Series(stage).map({"qualify": 0.1, "propose": 0.4, "negotiate": 0.6}).to_numpy(),
            "amount": amount,
            "owner": rng.choice(["a@x.io", "b@x.io", "c@x.io"], size=n),
            "team": "east",
            "created_at": created,
            # the CRM's expected close date: the true one plus noise, so it predicts timing
            "expected_close": closed + pd.to_timedelta(rng.normal(0, 10, n), unit="D"),
            "status": status,
            "closed_at": pd.Series(closed).where(status != "open").to_numpy(),
            "value": np.where(status == "won", amount, np.nan),
        }
    )


def synthetic_source(deals: pd.DataFrame) -> DealSource:
    end = deals["created_at"].max().normalize() + pd.Timedelta(days=1)

    def snapshot_at(origin: pd.Timestamp) -> pd.DataFrame:
        open_now = (deals["created_at"] < origin) & ~(deals["closed_at"].notna() & (deals["closed_at"] < origin))
        frame = deals.loc[open_now].copy()
        frame["close_date"] = frame["expected_close"].dt.normalize()
        frame["days_in_stage"] = (origin - frame["created_at"]).dt.days.astype(float)
        frame["stage_changes"] = 0.0
        frame["close_date_pushes"] = 0.0
        return frame.drop(columns=["status", "closed_at", "value", "expected_close"]).reset_index(drop=True)

    outcomes = deals.set_index("deal_id")[["status", "closed_at", "value"]]
    first = deals["closed_at"].dropna().min()
    return DealSource(
        snapshot_at=snapshot_at,
        outcomes=outcomes,
        deals=deals,
        data_end=end,
        first_origin=pd.Timestamp(year=first.year, month=first.month, day=1),
    )
