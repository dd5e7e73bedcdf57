"""Win-by-month labels as a discrete-time hazard over months, honestly censored.

Row = (deal, origin): a deal open at a monthly origin, its fields as they were then. For month k = 1..H
(k = 1 is the origin's own month) the hazard h_k = P(won in month k | not won before month k). Lost deals stay
"at risk" with label 0 in every month (they never win: the subdistribution hazard of Fine and Gray), so
P(won by the end of month M) = 1 - prod_{k <= M} (1 - h_k) is the probability of a *win* by then, not of any close.

Everything is read as it was known at `known_until` (the backtest's origin, or now): an outcome after it is
unknown (the deal counts as open), and an open deal's month k is observed only once month k has ended by then;
unobserved months are masked out of the loss (censoring), never labelled 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.engine.deals.frames import LOST, WON, deal_features, month_add, month_index, outcomes_check, snapshot_check


@dataclass
class HazardRows:
    features: pd.DataFrame  # model inputs, one row per (deal, origin)
    keys: pd.DataFrame  # deal_id, origin, name, amount, close_date, stage_probability, owner, team, pipeline
    labels: np.ndarray  # float32 (rows, H): 1 in the month the deal was won
    mask: np.ndarray  # bool (rows, H): month at risk and observed at `known_until`
    won_within: np.ndarray  # float (rows,): won within the H months; NaN when not yet known

    def __len__(self) -> int:
        return len(self.features)

    @property
    def horizon(self) -> int:
        return int(self.labels.shape[1])

    def take(self, rows: np.ndarray) -> HazardRows:
        return HazardRows(
            features=self.features.iloc[rows].reset_index(drop=True),
            keys=self.keys.iloc[rows].reset_index(drop=True),
            labels=self.labels[rows],
            mask=self.mask[rows],
            won_within=self.won_within[rows],
        )


def hazard_rows(
    *,
    snapshots: Mapping[pd.Timestamp, pd.DataFrame],
    outcomes: pd.DataFrame,
    horizon: int,
    known_until: pd.Timestamp | None = None,
    extra: tuple[str, ...] = (),
) -> HazardRows:
    """Rows of every origin in `snapshots` (origin -> that origin's snapshot frame), labelled as known at
    `known_until` (None = everything in `outcomes` is known). Origins at or after `known_until` are refused:
    their rows would carry no label and must not be trained on."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1 month")
    outcomes = outcomes_check(outcomes)
    if known_until is not None:
        late = [origin for origin in snapshots if origin >= known_until]
        if late:
            raise ValueError(f"origins {late[:3]} are not before known_until {known_until}")
        unknown = outcomes["closed_at"].isna() | (outcomes["closed_at"] >= known_until)
        outcomes = outcomes.assign(status=outcomes["status"].where(~unknown, "open"))
    parts = []
    for origin, snapshot in sorted(snapshots.items()):
        snapshot = snapshot_check(snapshot)
        joined = snapshot.join(outcomes[["status", "closed_at"]], on="deal_id")
        # Closed before the origin but still in its snapshot: the CRM's state disagrees with the outcome. Skip.
        early = joined["closed_at"].notna() & (joined["closed_at"] < origin) & joined["status"].isin([WON, LOST])
        joined = joined.loc[~early].reset_index(drop=True)
        labels, mask, won_within = _label(joined, origin=origin, horizon=horizon, known_until=known_until)
        keys = joined[
            ["deal_id", "name", "amount", "close_date", "stage", "stage_probability", "owner", "team", "pipeline"]
        ]
        parts.append(
            (deal_features(joined, origin=origin, extra=extra), keys.assign(origin=origin), labels, mask, won_within)
        )
    if not parts:
        empty = np.zeros((0, horizon))
        return HazardRows(pd.DataFrame(), pd.DataFrame(), empty.astype(np.float32), empty.astype(bool), np.zeros(0))
    return HazardRows(
        features=pd.concat([p[0] for p in parts], ignore_index=True),
        keys=pd.concat([p[1] for p in parts], ignore_index=True),
        labels=np.concatenate([p[2] for p in parts]).astype(np.float32),
        mask=np.concatenate([p[3] for p in parts]),
        won_within=np.concatenate([p[4] for p in parts]),
    )


def _label(
    joined: pd.DataFrame, *, origin: pd.Timestamp, horizon: int, known_until: pd.Timestamp | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(joined)
    months = np.arange(1, horizon + 1)
    won = (joined["status"] == WON).to_numpy()
    lost = (joined["status"] == LOST).to_numpy()
    win_month = np.where(won, month_index(origin=origin, when=joined["closed_at"]), np.inf)
    labels = (won[:, None] & (win_month[:, None] == months[None, :])).astype(np.float32)
    at_risk = months[None, :] <= win_month[:, None]  # until (and including) the month it was won
    if known_until is None:
        observed = np.ones((n, horizon), dtype=bool)
    else:
        ended = np.array([month_add(origin, int(k)) <= known_until for k in months])
        observed = np.broadcast_to(ended, (n, horizon)).copy()
    observed |= (won | lost)[:, None]  # a known outcome settles every month
    mask = at_risk & observed
    won_within = np.where(won & (win_month <= horizon), 1.0, np.where(mask.all(axis=1) | lost | won, 0.0, np.nan))
    return labels, mask, won_within


def hazards_to_cumulative(hazards: np.ndarray) -> np.ndarray:
    """(rows, H) monthly hazards -> (rows, H) P(won by the end of month k)."""
    return 1.0 - np.cumprod(1.0 - np.clip(hazards, 0.0, 1.0), axis=1)


def cumulative_to_monthly(cumulative: np.ndarray) -> np.ndarray:
    """(rows, H) P(won by month k) -> (rows, H) P(won in month k)."""
    return np.diff(np.concatenate([np.zeros((len(cumulative), 1)), cumulative], axis=1), axis=1)
