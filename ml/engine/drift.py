"""Population stability index (PSI): how far the rows scored now have moved from what the model trained on.

At training time `reference_distributions_build` describes the reference: the held-out scores and each
input field of the training rows. Numbers are counted in bins cut at the training quantiles (plus a bin for
missing values), categories by frequency (the most frequent kept, the rest in "<other>", plus "<missing>").
It is stored on the ModelVersion (metrics["reference_distributions"]). At scoring time a `DriftAccumulator`
counts the scored rows into the same bins, chunk by chunk (no frame is kept), and compares:

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with empty bins floored at a small epsilon. Usual bands: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major.
Pure numpy/pandas: no Django.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_FORMAT = 1
EPSILON = 1e-4  # share given to an empty bin, so ln() stays finite and one empty bin cannot dominate
QUANTILE_BINS = 10
MAX_CATEGORIES = 20  # categories kept per field; the rest share "<other>"
MAX_FEATURES = 40  # fields tracked per model (the lead model has about 35 plus a few CRM fields)
STABLE_BELOW = 0.1
MAJOR_ABOVE = 0.25
MISSING = "<missing>"
OTHER = "<other>"
TRACKED_KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # "numeric" or "categorical"
    label: str = ""


def psi(expected: Sequence[float], actual: Sequence[float], *, epsilon: float = EPSILON) -> float:
    """PSI of two distributions over the same bins (counts or shares; each is normalised first)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.size == 0:
        raise ValueError("expected and actual need the same, non-empty bins")
    e = np.maximum(e / e.sum() if e.sum() > 0 else e, epsilon)
    a = np.maximum(a / a.sum() if a.sum() > 0 else a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float | None) -> str:
    if value is None:
        return ""
    if value < STABLE_BELOW:
        return "stable"
    return "moderate" if value <= MAJOR_ABOVE else "major"


# --- reference (training time) ------------------------------------------------------------------------------
def reference_distributions_build(
    *, frame: pd.DataFrame, fields: Sequence[FieldSpec], scores: np.ndarray, max_features: int = MAX_FEATURES
) -> dict[str, Any]:
    """The JSON reference of a model: its held-out `scores` and the training rows' `fields` (at most
    `max_features`, in the given order; datetime and text fields are not tracked)."""
    features: dict[str, Any] = {}
    for spec in [f for f in fields if f.kind in TRACKED_KINDS][:max_features]:
        column = _column(frame, spec.name)
        if spec.kind == "numeric":
            features[spec.name] = {**_numeric_reference(_numbers(column)), "label": spec.label or spec.name}
        else:
            features[spec.name] = {**_categorical_reference(_texts(column)), "label": spec.label or spec.name}
    return {
        "format": REFERENCE_FORMAT,
        "rows": len(frame),
        "score_rows": len(scores),
        "score": _numeric_reference(np.asarray(scores, dtype=np.float64)),
        "features": features,
    }


def _numeric_reference(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if len(finite):
        inner = np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]
        edges = [float(edge) for edge in np.unique(np.quantile(finite, inner))]
    else:
        edges = []
    counts = _numeric_counts(values, edges)
    return {"kind": "numeric", "edges": edges, "shares": _shares(counts)}


def _categorical_reference(values: list[str | None]) -> dict[str, Any]:
    counts = Counter(value for value in values if value is not None)
    kept = [value for value, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORIES]]
    return {"kind": "categorical", "categories": kept, "shares": _shares(_categorical_counts(values, kept))}


def _numeric_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing."""
    finite = np.isfinite(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[finite], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, float((~finite).sum()))


def _categorical_counts(values: list[str | None], categories: list[str]) -> np.ndarray:
    """Counts per kept category, then "<other>", then "<missing>"."""
    position = {value: i for i, value in enumerate(categories)}
    counts = np.zeros(len(categories) + 2)
    for value in values:
        counts[len(categories) + 1 if value is None else position.get(value, len(categories))] += 1
    return counts


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


# --- now (scoring time) -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftReport:
    score_psi: float | None
    feature_psi: dict[str, dict[str, Any]]  # name -> {"psi", "band", "label"}
    rows: int

    @property
    def band(self) -> str:
        return psi_band(self.score_psi)


@dataclass
class DriftAccumulator:
    """Counts scored rows into a reference's bins, chunk by chunk. Without a usable reference (a model
    trained before drift was recorded) it counts nothing and reports no PSI."""

    reference: Mapping[str, Any] | None
    rows: int = 0
    _score: np.ndarray | None = field(default=None, repr=False)
    _features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.reference, Mapping) or self.reference.get("format") != REFERENCE_FORMAT:
            self.reference = None

    def add(self, *, frame: pd.DataFrame, probabilities: np.ndarray) -> None:
        if self.reference is None or len(frame) == 0:
            return
        self.rows += len(frame)
        score = _numeric_counts(np.asarray(probabilities, dtype=np.float64), self.reference["score"]["edges"])
        self._score = score if self._score is None else self._score + score
        for name, ref in self.reference["features"].items():
            column = _column(frame, name)
            if ref["kind"] == "numeric":
                counts = _numeric_counts(_numbers(column), ref["edges"])
            else:
                counts = _categorical_counts(_texts(column), ref["categories"])
            self._features[name] = counts if name not in self._features else self._features[name] + counts

    def report(self) -> DriftReport:
        if self.reference is None or self._score is None:
            return DriftReport(score_psi=None, feature_psi={}, rows=self.rows)
        features = {}
        for name, ref in self.reference["features"].items():
            value = round(psi(ref["shares"], self._features[name]), 4)
            features[name] = {"psi": value, "band": psi_band(value), "label": ref.get("label", name)}
        score_psi = round(psi(self.reference["score"]["shares"], self._score), 4)
        return DriftReport(score_psi=score_psi, feature_psi=features, rows=self.rows)


# --- helpers ------------------------------------------------------------------------------------------------
def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _numbers(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype(float)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _texts(column: pd.Series) -> list[str | None]:
    def normalise(value: Any) -> str | None:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip() or None

    return [normalise(value) for value in column.astype(object).tolist()]


def training_reference_build(*, trained: Any, frame: pd.DataFrame, split: Sequence[np.ndarray]) -> dict[str, Any]:
    """The reference of a freshly trained model (an `ml.engine.training.TrainedModel`): the calibrated scores of its
    held-out rows (validation + test: what it has not trained on) and the fields of every training row."""
    model = trained.scoring_model()
    held_out = np.concatenate([np.asarray(split[1]), np.asarray(split[2])]).astype(np.int64)
    part = frame.iloc[held_out]
    scores = model.probabilities(model.encode(part)) if len(part) else np.zeros(0)
    fields = [FieldSpec(c.name, c.kind, c.display_label) for c in trained.preprocessor.schema.columns]
    return reference_distributions_build(frame=frame, fields=fields, scores=np.asarray(scores))
