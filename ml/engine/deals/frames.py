"""Point-in-time deal frames: the columns every deal module reads, their checks, and the features.

Bad input has one treatment each (tested): a deal without an amount is kept for win probability but adds
nothing to bookings (amount treated as unknown, flagged); without a close date its `days_to_close` is missing
(the models learn what "no close date" means) and the commit baseline skips it; without a stage it gets the
stage "<none>" and no stage probability; a close date already past on an open deal is a feature
(`close_date_passed`), and the baselines move it to the origin's month; amounts must already be in one base
currency (`amount_base`): a frame whose `currency` column mixes currencies without a base amount is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.engine.schema import ColumnSpec, TableSchema

SNAPSHOT_COLUMNS = (
    "deal_id",
    "name",
    "pipeline",
    "stage",
    "stage_probability",  # the CRM's default win probability of the stage, 0..1, NaN when unknown
    "amount",  # in the organisation's base currency; NaN when unknown
    "close_date",  # the expected close date the CRM held at the origin
    "owner",
    "team",
    "created_at",
    "stage_changes",
    "close_date_pushes",
    "days_in_stage",
)
OUTCOME_COLUMNS = ("status", "closed_at", "value")  # index deal_id; value = booked amount (base) when won
NO_STAGE = "<none>"
OPEN, WON, LOST = "open", "won", "lost"


class DealInputError(ValueError):
    """The deal data cannot be used as given (the message says why and what to do)."""


def snapshot_check(frame: pd.DataFrame) -> pd.DataFrame:
    """A clean copy of one origin's snapshot frame, or DealInputError. See the module docstring for the rules."""
    missing = [name for name in ("deal_id", "amount", "stage", "close_date", "created_at") if name not in frame]
    if missing:
        raise DealInputError(f"snapshot frame lacks columns {missing}")
    out = frame.copy()
    if "currency" in out and "amount_base" not in out:
        currencies = {c for c in out["currency"].dropna().astype(str) if c}
        if len(currencies) > 1:
            raise DealInputError(
                f"amounts in several currencies ({', '.join(sorted(currencies))}) and no base-currency amount: "
                "store exchange rates so amounts convert to the base currency; they are never added up as they are"
            )
    if "amount_base" in out:
        out["amount"] = out["amount_base"]
    for name in ("name", "pipeline", "owner", "team"):
        out[name] = out[name].fillna("").astype(str) if name in out else ""
    out["stage"] = out["stage"].fillna("").astype(str).replace("", NO_STAGE)
    out["amount"] = pd.to_numeric(out["amount"], errors="coerce").astype(float)
    out.loc[out["amount"] < 0, "amount"] = np.nan
    if "stage_probability" not in out:
        out["stage_probability"] = np.nan
    out["stage_probability"] = pd.to_numeric(out["stage_probability"], errors="coerce").astype(float)
    out["close_date"] = pd.to_datetime(out["close_date"], errors="coerce")
    out["created_at"] = _naive(pd.to_datetime(out["created_at"], errors="coerce", utc=True))
    for name in ("stage_changes", "close_date_pushes", "days_in_stage"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float) if name in out else np.nan
    return out.reset_index(drop=True)


def outcomes_check(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in OUTCOME_COLUMNS if name not in frame]
    if missing:
        raise DealInputError(f"outcomes frame lacks columns {missing}")
    out = frame.copy()
    out["closed_at"] = _naive(pd.to_datetime(out["closed_at"], errors="coerce", utc=True))
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    bad = ~out["status"].isin([OPEN, WON, LOST])
    if bad.any():
        raise DealInputError(f"unknown deal statuses: {sorted(out.loc[bad, 'status'].astype(str).unique())[:5]}")
    return out


def deal_features(snapshot: pd.DataFrame, *, origin: pd.Timestamp, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Model inputs of one origin's (checked) snapshot: only what the CRM held at `origin`."""
    days = np.timedelta64(1, "D")
    close = snapshot["close_date"]
    features = pd.DataFrame(
        {
            "pipeline": snapshot["pipeline"].values,
            "stage": (snapshot["pipeline"] + " / " + snapshot["stage"]).values,
            "owner": snapshot["owner"].values,
            "team": snapshot["team"].values,
            "stage_probability": snapshot["stage_probability"].values,
            "log_amount": np.log1p(snapshot["amount"].values),
            "amount_missing": snapshot["amount"].isna().astype(float).values,
            "age_days": ((origin - snapshot["created_at"]) / days).values,
            "days_to_close": ((close - origin) / days).values,
            "close_date_passed": (close < origin).astype(float).where(close.notna()).values,
            "days_in_stage": snapshot["days_in_stage"].values,
            "stage_changes": snapshot["stage_changes"].values,
            "close_date_pushes": snapshot["close_date_pushes"].values,
        }
    )
    for name in extra:
        features[name] = snapshot[name].fillna("").astype(str).values if name in snapshot else ""
    return features


def deal_schema(*, extra: tuple[str, ...] = ()) -> TableSchema:
    categorical = ("pipeline", "stage", "owner", "team", *extra)
    numeric = {
        "stage_probability": "Stage probability (CRM)",
        "log_amount": "Amount",
        "amount_missing": "No amount",
        "age_days": "Deal age (days)",
        "days_to_close": "Days to expected close",
        "close_date_passed": "Close date passed",
        "days_in_stage": "Days in stage",
        "stage_changes": "Stage changes",
        "close_date_pushes": "Close date pushed",
    }
    return TableSchema(
        columns=(
            *(
                ColumnSpec(name=name, kind="categorical", label=name.replace("_", " ").capitalize())
                for name in categorical
            ),
            *(ColumnSpec(name=name, kind="numeric", label=label) for name, label in numeric.items()),
        )
    )


def month_start(value: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(year=value.year, month=value.month, day=1)


def month_add(value: pd.Timestamp, months: int) -> pd.Timestamp:
    return month_start(value) + pd.DateOffset(months=months)


def month_index(*, origin: pd.Timestamp, when: pd.Series) -> np.ndarray:
    """1 for the origin's month (origins are month starts), 2 for the next, ...; <= 0 before the origin."""
    when = pd.to_datetime(when)
    return ((when.dt.year - origin.year) * 12 + (when.dt.month - origin.month) + 1).to_numpy(dtype=float)


def _naive(values: pd.Series) -> pd.Series:
    return values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values
