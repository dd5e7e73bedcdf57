"""Reps' feedback as training labels with weights. Pure numpy/pandas: no Django (the selector brings rows in).

A training row is (contact, snapshot S) with label "converted in (S, S + horizon]". A verdict on one of the
contact's predictions becomes a soft target t for that row, mixed with the observed outcome y:

- agree:    t = y, the row's weight times `agree_weight` (the rep confirms: count it more);
- disagree: t = (1 - d) * y + d * (1 - call), where call = 1 if the model said >= 0.5: pulled towards the
            opposite of the model's call by the share `disagree_weight` = d;
- override: t = (1 - o) * y + o * p, p the rep's own probability, o = `override_weight`.

A soft t in (0, 1) is the row twice, labelled 1 with weight w * t and 0 with weight w * (1 - t): the same
gradient as a soft label under log loss, and something LightGBM and logistic regression take as they are.

No leakage: a verdict counts for a row only if it was given inside the row's label window (S <= given <
S + horizon) and before the contact converted; a rep's override written after the outcome was known must
not teach the past. The newest such verdict wins. Only TRAINING rows change: validation and test rows keep
their observed outcomes, so held-out metrics still measure real conversions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

AGREE = "agree"
DISAGREE = "disagree"
OVERRIDE = "override"


@dataclass(frozen=True)
class FeedbackWeights:
    agree_weight: float = 1.5
    disagree_weight: float = 0.5
    override_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.agree_weight <= 0:
            raise ValueError("agree_weight must be positive")
        if not (0 <= self.disagree_weight <= 1 and 0 <= self.override_weight <= 1):
            raise ValueError("disagree_weight and override_weight are shares between 0 and 1")


@dataclass(frozen=True)
class FeedbackLabel:
    """One verdict, as the training set needs it."""

    contact_id: int
    given_at: datetime
    verdict: str
    model_probability: float  # what the model itself said (not an override it was serving)
    override_value: float | None = None


@dataclass
class WeightedTrainingSet:
    frame: pd.DataFrame
    labels: np.ndarray  # int 0/1
    weights: np.ndarray | None  # None: every row weighs 1 (no feedback applied)
    split: tuple[np.ndarray, np.ndarray, np.ndarray]  # train, valid, test row positions
    changed_rows: int  # training rows a verdict changed


def feedback_training_set(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray | pd.Series,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    feedback: Sequence[FeedbackLabel],
    converted_at: Mapping[int, datetime],
    horizon_days: int,
    weights: FeedbackWeights,
) -> WeightedTrainingSet:
    """Apply verdicts to the training rows of (`frame` indexed by contact id, with an `as_of` column).
    Without an applicable verdict the inputs come back unchanged and `weights` is None."""
    y = np.asarray(labels).astype(np.int64).ravel()
    train_rows, valid_rows, test_rows = (np.asarray(part, dtype=np.int64) for part in split)
    targets = _row_targets(
        frame=frame,
        labels=y,
        rows=train_rows,
        feedback=feedback,
        converted_at=converted_at,
        horizon=timedelta(days=horizon_days),
        weights=weights,
    )
    if not targets:
        return WeightedTrainingSet(
            frame=frame, labels=y, weights=None, split=(train_rows, valid_rows, test_rows), changed_rows=0
        )
    row_weights = np.ones(len(y), dtype=np.float64)
    new_labels = y.copy()
    extra_positions: list[int] = []  # rows to append as the negative half of a soft target
    extra_weights: list[float] = []
    for row, (target, weight) in targets.items():
        if target in (0.0, 1.0):
            new_labels[row], row_weights[row] = int(target), weight
            continue
        new_labels[row], row_weights[row] = 1, weight * target
        extra_positions.append(row)
        extra_weights.append(weight * (1.0 - target))
    if extra_positions:
        frame = pd.concat([frame, frame.iloc[extra_positions]])
        new_labels = np.concatenate([new_labels, np.zeros(len(extra_positions), dtype=np.int64)])
        row_weights = np.concatenate([row_weights, np.asarray(extra_weights)])
        appended = np.arange(len(y), len(y) + len(extra_positions), dtype=np.int64)
        train_rows = np.concatenate([train_rows, appended])
    return WeightedTrainingSet(
        frame=frame,
        labels=new_labels,
        weights=row_weights,
        split=(train_rows, valid_rows, test_rows),
        changed_rows=len(targets),
    )


def _row_targets(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray,
    rows: np.ndarray,
    feedback: Sequence[FeedbackLabel],
    converted_at: Mapping[int, datetime],
    horizon: timedelta,
    weights: FeedbackWeights,
) -> dict[int, tuple[float, float]]:
    """Row position -> (soft target, weight) for training rows an applicable verdict changes."""
    by_contact: dict[int, list[FeedbackLabel]] = {}
    for item in sorted(feedback, key=lambda f: f.given_at, reverse=True):  # newest first
        by_contact.setdefault(int(item.contact_id), []).append(item)
    if not by_contact:
        return {}
    contact_ids = frame.index.to_numpy()
    snapshots = pd.to_datetime(frame["as_of"], utc=True)
    targets: dict[int, tuple[float, float]] = {}
    for row in rows:
        verdicts = by_contact.get(int(contact_ids[row]))
        if not verdicts:
            continue
        snapshot = snapshots.iloc[row]
        converted = converted_at.get(int(contact_ids[row]))
        verdict = next(
            (
                f
                for f in verdicts
                if snapshot <= pd.Timestamp(f.given_at) < snapshot + horizon
                and (converted is None or pd.Timestamp(f.given_at) < pd.Timestamp(converted))
            ),
            None,
        )
        if verdict is None:
            continue
        target, weight = _target(verdict, observed=float(labels[row]), weights=weights)
        if (target, weight) != (float(labels[row]), 1.0):  # e.g. a "disagree" the outcome already agrees with
            targets[int(row)] = (target, weight)
    return targets


def _target(verdict: FeedbackLabel, *, observed: float, weights: FeedbackWeights) -> tuple[float, float]:
    if verdict.verdict == AGREE:
        return observed, weights.agree_weight
    if verdict.verdict == DISAGREE:
        opposite = 0.0 if verdict.model_probability >= 0.5 else 1.0
        return (1 - weights.disagree_weight) * observed + weights.disagree_weight * opposite, 1.0
    if verdict.verdict == OVERRIDE and verdict.override_value is not None:
        value = float(verdict.override_value)
        return (1 - weights.override_weight) * observed + weights.override_weight * value, 1.0
    return observed, 1.0
