"""Why a lead got its score: per-prediction top factors in plain words, mapped to ORIGINAL fields.

The foundation explainer is occlusion: for each original field (all the tokens it feeds, e.g. a value and
its missing indicator) swap in the field's typical value (training median / most frequent category) and
measure how much the logit drops. It is faithful (it is the model's own answer to "what if this field were
ordinary?") and cheap for a small net, because fields already at their typical value are skipped.

The `Explainer` protocol is the seam for a later integrated-gradients explainer (captum): anything that
returns a (rows, fields) array of logit contributions plugs into `predictions_explain`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml.features.schema import EncodedTable, TablePreprocessor
from ml.inference import ScoringModel, predict_logits

TOP_K = 3
MIN_WEIGHT = 1e-3  # logit change below this is noise, not a reason


class Explainer(Protocol):
    name: str

    def field_attributions(self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int) -> np.ndarray:
        """(rows, len(model.preprocessor.fields)) logit contributions; positive pushes towards the outcome."""
        ...


class OcclusionExplainer:
    name = "occlusion"

    def field_attributions(self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int = 1024) -> np.ndarray:
        preprocessor = model.preprocessor
        fields = preprocessor.fields
        baseline = preprocessor.baseline()
        positions = [preprocessor.field_positions(name) for name in fields]
        # Same precision for the original and the occluded rows, so differences are not rounding noise.
        original = predict_logits(model.net, encoded, device=model.device, batch_size=batch_size, mixed_precision=False)
        attributions = np.zeros((len(encoded), len(fields)), dtype=np.float32)
        rows_per_chunk = max(1, batch_size * 4 // max(len(fields), 1))
        for start in range(0, len(encoded), rows_per_chunk):
            chunk = encoded.take(slice(start, start + rows_per_chunk))
            numeric_parts, categorical_parts, targets = [], [], []
            for field_index, (numeric_positions, categorical_positions) in enumerate(positions):
                differs = np.zeros(len(chunk), dtype=bool)
                if numeric_positions:
                    values = chunk.numeric[:, numeric_positions]
                    differs |= np.any(values != baseline.numeric[0, numeric_positions], axis=1)
                if categorical_positions:
                    differs |= np.any(
                        chunk.categorical[:, categorical_positions] != baseline.categorical[0, categorical_positions],
                        axis=1,
                    )
                rows = np.flatnonzero(differs)  # a field already at its typical value contributes exactly 0
                if not len(rows):
                    continue
                numeric = chunk.numeric[rows].copy()
                categorical = chunk.categorical[rows].copy()
                numeric[:, numeric_positions] = baseline.numeric[0, numeric_positions]
                categorical[:, categorical_positions] = baseline.categorical[0, categorical_positions]
                numeric_parts.append(numeric)
                categorical_parts.append(categorical)
                targets.append((rows, field_index))
            if not targets:
                continue
            occluded = predict_logits(
                model.net,
                EncodedTable(numeric=np.concatenate(numeric_parts), categorical=np.concatenate(categorical_parts)),
                device=model.device,
                batch_size=batch_size,
                mixed_precision=False,
            )
            offset = 0
            for rows, field_index in targets:
                values = occluded[offset : offset + len(rows)]
                attributions[start + rows, field_index] = original[start + rows] - values
                offset += len(rows)
        return attributions


def explainer_get(name: str = "occlusion") -> Explainer:
    explainers: dict[str, type] = {"occlusion": OcclusionExplainer}
    if name not in explainers:
        raise ValueError(f"unknown explainer {name!r}")
    return explainers[name]()


def predictions_explain(
    *,
    model: ScoringModel,
    frame: pd.DataFrame,
    encoded: EncodedTable | None = None,
    explainer: Explainer | None = None,
    k: int = TOP_K,
    batch_size: int = 1024,
) -> list[list[dict[str, Any]]]:
    """Top `k` positive then top `k` negative factors for every row of `frame`."""
    encoded = encoded if encoded is not None else model.encode(frame)
    attributions = (explainer or OcclusionExplainer()).field_attributions(model, encoded, batch_size=batch_size)
    return factors_top(frame=frame, attributions=attributions, preprocessor=model.preprocessor, k=k)


def factors_top(
    *, frame: pd.DataFrame, attributions: np.ndarray, preprocessor: TablePreprocessor, k: int = TOP_K
) -> list[list[dict[str, Any]]]:
    fields = preprocessor.fields
    specs = {spec.name: spec for spec in preprocessor.schema.columns}
    columns = {name: (frame[name].tolist() if name in frame.columns else [None] * len(frame)) for name in fields}
    explained = []
    for row, weights in enumerate(attributions):
        order = np.argsort(-weights, kind="stable")
        positive = [i for i in order if weights[i] > MIN_WEIGHT][:k]
        negative = [i for i in order[::-1] if weights[i] < -MIN_WEIGHT][:k]
        factors = []
        for index, direction in [(i, "+") for i in positive] + [(i, "-") for i in negative]:
            name = fields[index]
            value = value_text(columns[name][row])
            factors.append(
                {
                    "feature": name,
                    "label": f"{specs[name].display_label} = {value}",
                    "value": value,
                    "direction": direction,
                    "weight": round(float(weights[index]), 4),
                }
            )
        explained.append(factors)
    return explained


def value_text(value: Any) -> str:
    """A raw frame value as a person would say it: 4, 12,000, 45.5, Referral, 2025-01-31, unknown."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "unknown"
    if isinstance(value, (datetime, date)):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return f"{int(round(number)):,}" if abs(number - round(number)) < 1e-9 else f"{number:,.1f}"
    text = str(value).strip()
    return text or "unknown"
