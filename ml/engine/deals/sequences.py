"""A deal's activities before each origin as the fixed-length sequence the deal Transformer reads (the churn
net's format, ml.engine.activity_sequences): only activities strictly before the row's origin, newest last."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.engine.activity_sequences import (
    ActivitySequences,
    direction_index,
    kind_index,
    sequence_steps,
    sequences_empty,
)

ACTIVITY_COLUMNS = ("deal_id", "occurred_at", "kind", "direction", "text_index")


def deal_sequences(
    *,
    keys: pd.DataFrame,
    activities: pd.DataFrame | None,
    vectors: np.ndarray | None,
    length: int = 16,
    dim: int = 0,
) -> ActivitySequences:
    """`keys` has deal_id and origin per row; `activities` the columns ACTIVITY_COLUMNS (text_index = row of
    `vectors`, -1 = no text). No activities: an all-padding sequence of `dim`-wide (possibly empty) text."""
    width = int(vectors.shape[1]) if vectors is not None and vectors.ndim == 2 else dim
    out = sequences_empty(rows=len(keys), length=length, dim=width)
    if vectors is not None and len(vectors):
        out.vectors = np.asarray(vectors, dtype=np.float32)
    if activities is None or activities.empty or not len(keys):
        return out
    times = pd.to_datetime(activities["occurred_at"], utc=True).dt.tz_localize(None)
    ordered = activities.assign(_t=times.astype("int64")).sort_values(["deal_id", "_t"], kind="stable")
    by_deal = dict(list(ordered.groupby("deal_id", sort=False)))
    origins = pd.to_datetime(keys["origin"]).astype("int64").to_numpy()
    for row, (deal_id, origin_ns) in enumerate(zip(keys["deal_id"].to_numpy(), origins, strict=True)):
        group = by_deal.get(deal_id)
        if group is None:
            continue
        times_ns = group["_t"].to_numpy()
        before = int(np.searchsorted(times_ns, origin_ns, side="left"))
        positions, numbers = sequence_steps(times_ns=times_ns, before=before, length=length, snapshot_ns=int(origin_ns))
        if not len(positions):
            continue
        slots = slice(length - len(positions), length)
        out.kind[row, slots] = [kind_index(k) for k in group["kind"].to_numpy()[positions]]
        out.direction[row, slots] = [direction_index(d) for d in group["direction"].to_numpy()[positions]]
        out.numeric[row, slots] = numbers
        out.text_index[row, slots] = group["text_index"].to_numpy()[positions]
    return out
