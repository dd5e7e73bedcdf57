"""Why an account got its churn risk, in plain words. Pure torch/numpy/pandas: no Django.

Table fields: occlusion, as ml.engine.explain.OcclusionExplainer does for leads (swap the field for its typical
value, measure the logit change), then the same top-factor wording (ml.engine.explain.factors_top). Activities:
each recent activity with text is removed from the sequence in turn (its step becomes padding); the one
whose removal changes the risk most is named with its words, e.g. Recent note: "...considering switching...".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ml.engine.activity_sequences import PAD, ActivitySequences
from ml.engine.churn_training import churn_logits
from ml.engine.explain import MIN_WEIGHT, SENTENCE_MAX_CHARS, factors_top
from ml.engine.nets.activity_sequence import ChurnTransformer
from ml.engine.schema import EncodedTable, TablePreprocessor

ACTIVITY_FACTOR = "recent_activity"


def churn_factors(
    *,
    net: ChurnTransformer,
    preprocessor: TablePreprocessor,
    frame: pd.DataFrame,
    encoded: EncodedTable,
    sequences: ActivitySequences,
    device: torch.device,
    batch_size: int = 1024,
) -> list[list[dict[str, Any]]]:
    """Per row: the top table factors (+ and -) and the activity that moved the risk most."""
    original = churn_logits(net, encoded, sequences, device=device, batch_size=batch_size, mixed_precision=False)
    attributions = _field_occlusion(
        net, preprocessor, encoded, sequences, original, device=device, batch_size=batch_size
    )
    factors = factors_top(frame=frame, attributions=attributions, preprocessor=preprocessor)
    for row, effect in enumerate(
        _activity_occlusion(net, encoded, sequences, original, device=device, batch_size=batch_size)
    ):
        if effect is not None:
            factors[row].append(effect)
    return factors


def _field_occlusion(
    net: ChurnTransformer,
    preprocessor: TablePreprocessor,
    encoded: EncodedTable,
    sequences: ActivitySequences,
    original: np.ndarray,
    *,
    device: torch.device,
    batch_size: int,
) -> np.ndarray:
    fields = preprocessor.fields
    baseline = preprocessor.baseline()
    attributions = np.zeros((len(encoded), len(fields)), dtype=np.float32)
    for index, name in enumerate(fields):
        numeric_positions, categorical_positions = preprocessor.field_positions(name)
        differs = np.zeros(len(encoded), dtype=bool)
        if numeric_positions:  # NaN (missing) differs from the typical value too
            differs |= np.any(encoded.numeric[:, numeric_positions] != baseline.numeric[0, numeric_positions], axis=1)
        if categorical_positions:
            differs |= np.any(
                encoded.categorical[:, categorical_positions] != baseline.categorical[0, categorical_positions], axis=1
            )
        rows = np.flatnonzero(differs)  # a field already at its typical value contributes exactly 0
        if not len(rows):
            continue
        numeric, categorical = encoded.numeric[rows].copy(), encoded.categorical[rows].copy()
        numeric[:, numeric_positions] = baseline.numeric[0, numeric_positions]
        categorical[:, categorical_positions] = baseline.categorical[0, categorical_positions]
        occluded = churn_logits(
            net,
            EncodedTable(numeric=numeric, categorical=categorical),
            sequences.take(rows),
            device=device,
            batch_size=batch_size,
            mixed_precision=False,
        )
        attributions[rows, index] = original[rows] - occluded
    return attributions


def _activity_occlusion(
    net: ChurnTransformer,
    encoded: EncodedTable,
    sequences: ActivitySequences,
    original: np.ndarray,
    *,
    device: torch.device,
    batch_size: int,
) -> list[dict[str, Any] | None]:
    rows, steps = np.nonzero(sequences.text_index >= 0)
    effects: list[dict[str, Any] | None] = [None] * len(encoded)
    if not len(rows) or net.config.text_dim == 0:
        return effects
    removed = sequences.take(rows)
    removed.kind = removed.kind.copy()
    removed.text_index = removed.text_index.copy()
    removed.kind[np.arange(len(rows)), steps] = PAD
    removed.text_index[np.arange(len(rows)), steps] = -1
    logits = churn_logits(net, encoded.take(rows), removed, device=device, batch_size=batch_size, mixed_precision=False)
    weights = original[rows] - logits  # > 0: this activity raised the risk
    best: dict[int, int] = {}
    for position, row in enumerate(rows):
        if row not in best or abs(weights[position]) > abs(weights[best[row]]):
            best[row] = position
    for row, position in best.items():
        weight = float(weights[position])
        if abs(weight) <= MIN_WEIGHT:
            continue
        vector_row = int(sequences.text_index[row, steps[position]])
        kind = sequences.text_kinds[vector_row] if vector_row < len(sequences.text_kinds) else "activity"
        shown = _snippet(sequences.texts[vector_row] if vector_row < len(sequences.texts) else "")
        effects[row] = {
            "feature": ACTIVITY_FACTOR,
            "label": f'Recent {kind}: "{shown}"',
            "value": shown,
            "direction": "+" if weight > 0 else "-",
            "weight": round(weight, 4),
        }
    return effects


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SENTENCE_MAX_CHARS else flat[: SENTENCE_MAX_CHARS - 1].rstrip() + "…"
