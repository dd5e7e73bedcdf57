"""Fit the baseline families on a Transformer's split and predict its held-out rows. Pure: no Django.

Every training run (ml.training_recipe) fits a tuned LightGBM and a logistic regression on exactly the
Transformer's training rows, calibrates them on its validation rows and predicts its test rows, so the gate
(ml.engine.gate) compares all three on the same rows and any of them can serve. A family that cannot be fitted
(e.g. a class missing from a tiny split) is recorded with its error and simply cannot serve.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.engine.calibration import classification_metrics
from ml.engine.schema import TableSchema

logger = logging.getLogger(__name__)


@dataclass
class FamilyFit:
    name: str
    model: Any | None = None  # ml.engine.baselines.BaselineModel
    metrics: dict[str, Any] | None = None  # held-out (test) metrics of the calibrated probabilities
    test_probabilities: np.ndarray | None = None
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """What is stored in ModelVersion.metrics for this family."""
        if self.error is not None:
            return {"error": self.error}
        return {
            **(self.metrics or {}),
            "train_seconds": round(float(self.model.train_seconds), 2),
            "params": self.model.params,
        }


def baselines_fit(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray,
    schema: TableSchema,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    lightgbm_configs: int,
    calibration: str,
    sample_weight: np.ndarray | None = None,
    n_jobs: int = 1,
) -> dict[str, FamilyFit]:
    """LightGBM (random search of `lightgbm_configs`) and logistic regression on `split`'s rows."""
    from ml.engine.baselines import lightgbm_baseline_fit, logistic_baseline_fit

    y = np.asarray(labels).astype(int)
    train_rows, valid_rows, test_rows = split
    common = {
        "frame": frame.iloc[train_rows],
        "labels": y[train_rows],
        "valid_frame": frame.iloc[valid_rows],
        "valid_labels": y[valid_rows],
        "schema": schema,
        "seed": seed,
        "calibration": calibration,
        "n_jobs": n_jobs,
        "sample_weight": None if sample_weight is None else np.asarray(sample_weight)[train_rows],
    }
    fitters = {
        "lightgbm": lambda: lightgbm_baseline_fit(**common, n_configs=lightgbm_configs),
        "logistic": lambda: logistic_baseline_fit(**common),
    }
    results: dict[str, FamilyFit] = {}
    for name, fit in fitters.items():
        try:
            model = fit()
            probabilities = np.asarray(model.probabilities(frame.iloc[test_rows]), dtype=np.float64)
            metrics = classification_metrics(y[test_rows], probabilities)
        except ValueError as exc:  # e.g. a class missing from a small split
            logger.warning("baseline %s could not be trained: %s", name, exc)
            results[name] = FamilyFit(name=name, error=str(exc))
            continue
        results[name] = FamilyFit(name=name, model=model, metrics=metrics, test_probabilities=probabilities)
    return results
