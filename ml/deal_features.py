"""Deals: ORM -> the point-in-time frames of ml.engine.deals (through salesai.core.deal_history), and the Maven
CSV data into the same shape. The only ORM bridge of the deal models."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from django.utils import timezone

from ml.engine.deals.backtest import DealSource, first_close_month
from ml.engine.deals.frames import month_add, month_start
from ml.engine.deals.maven import EXTRA, maven_load
from ml.engine.text_encoder import text_is_blank
from salesai.core.deal_history import deal_outcomes, deal_snapshots_as_of
from salesai.core.models import Activity, Deal, OwnerTeam

MAX_TRAINING_ORIGINS = 24  # monthly origins a training run reads at most (the most recent ones)


def deal_snapshot_frame(*, organization_id: int, as_of: dt.datetime) -> pd.DataFrame:
    """Open deals at `as_of` with their fields then (amount in the base currency; None without a rate)."""
    snapshots = deal_snapshots_as_of(organization_id=organization_id, as_of=as_of)
    frame = pd.DataFrame(
        [
            {
                "deal_id": s.deal_id,
                "name": s.name,
                "pipeline": s.pipeline,
                "stage": s.stage,
                "stage_probability": np.nan if s.stage_probability is None else float(s.stage_probability),
                "amount": np.nan if s.amount_base is None else float(s.amount_base),
                "close_date": pd.NaT if s.close_date is None else pd.Timestamp(s.close_date),
                "owner": s.owner_email,
                "team": s.team,
                "created_at": pd.Timestamp(s.created_at),
                "stage_changes": float(s.stage_changes),
                "close_date_pushes": float(s.close_date_pushes),
                "days_in_stage": float(s.days_in_stage),
            }
            for s in snapshots
        ]
    )
    if frame.empty:
        return pd.DataFrame(columns=["deal_id", "name", "pipeline", "stage", "amount", "close_date", "created_at"])
    return frame


def deal_source_build(*, organization_id: int, now: dt.datetime | None = None, with_text: bool = True) -> DealSource:
    """Everything the deal models and the backtest read about one organisation, point in time."""
    now = now or timezone.now()
    deals = pd.DataFrame(
        list(
            Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True).values(
                "id", "remote_created_at", "created_at", "amount_base", "pipeline", "owner_email"
            )
        ),
        columns=["id", "remote_created_at", "created_at", "amount_base", "pipeline", "owner_email"],
    )
    outcomes_map = deal_outcomes(organization_id=organization_id)
    teams = dict(OwnerTeam.objects.filter(organization_id=organization_id).values_list("owner_email", "team"))
    deals["deal_id"] = deals["id"]
    deals["created_at"] = _naive(deals["remote_created_at"].fillna(deals["created_at"]))
    deals["status"] = deals["id"].map(lambda i: outcomes_map.get(i, ("open", None))[0])
    deals["closed_at"] = _naive(deals["id"].map(lambda i: outcomes_map.get(i, ("open", None))[1]))
    deals["value"] = pd.to_numeric(deals["amount_base"], errors="coerce").where(deals["status"] == "won")
    deals["owner"] = deals["owner_email"].fillna("")
    deals["team"] = deals["owner"].map(lambda email: teams.get(email, ""))
    outcomes = deals.set_index("deal_id")[["status", "closed_at", "value"]]
    activities, vectors = _activities(organization_id=organization_id, with_text=with_text)
    now_naive = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
    try:
        first = first_close_month(outcomes)
    except ValueError:
        first = month_start(now_naive)
    cache: dict[pd.Timestamp, pd.DataFrame] = {}  # an origin's snapshot never changes; backtests re-read them

    def snapshot_at(origin: pd.Timestamp) -> pd.DataFrame:
        if origin not in cache:
            as_of = origin.to_pydatetime().replace(tzinfo=dt.UTC)
            cache[origin] = deal_snapshot_frame(organization_id=organization_id, as_of=as_of)
        return cache[origin].copy()

    return DealSource(
        snapshot_at=snapshot_at,
        outcomes=outcomes,
        deals=deals[["deal_id", "created_at", "status", "closed_at", "value", "owner", "team", "pipeline"]],
        data_end=now_naive,
        first_origin=max(first, month_add(month_start(now_naive), -MAX_TRAINING_ORIGINS)),
        activities=activities,
        vectors=vectors,
    )


def deal_source_maven(*, folder: str | Path) -> DealSource:
    folder = Path(folder)
    if not (folder / "sales_pipeline.csv").exists():
        raise ValueError(f"{folder} has no sales_pipeline.csv (the Maven CRM Sales Opportunities data)")
    data = maven_load(folder)
    return DealSource(
        snapshot_at=data.snapshot_at,
        outcomes=data.outcomes,
        deals=data.deals,
        data_end=data.data_end,
        first_origin=first_close_month(data.outcomes),
        extra=EXTRA,
    )


def _activities(*, organization_id: int, with_text: bool) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    rows = list(
        Activity.objects.filter(organization_id=organization_id, deal__isnull=False).values_list(
            "deal_id", "occurred_at", "kind", "direction", "subject", "body"
        )
    )
    if not rows:
        return None, None
    frame = pd.DataFrame(rows, columns=["deal_id", "occurred_at", "kind", "direction", "subject", "body"])
    frame["text"] = (frame["subject"].fillna("") + "\n" + frame["body"].fillna("")).str.strip()
    frame["text_index"] = -1
    vectors = None
    if with_text:
        present = ~frame["text"].map(text_is_blank)
        if present.any():
            from ml.text.cache import text_embeddings_get

            texts = frame.loc[present, "text"].tolist()
            vectors = np.asarray(text_embeddings_get(texts=texts), dtype=np.float32)
            frame.loc[present, "text_index"] = np.arange(int(present.sum()))
    return frame[["deal_id", "occurred_at", "kind", "direction", "text_index"]], vectors


def _naive(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values, utc=True)
    return values.dt.tz_localize(None)
