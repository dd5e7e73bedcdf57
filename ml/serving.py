"""Load whichever family a ModelVersion serves and score table rows with it, reasons included.

A ModelVersion's `architecture` names its family: "ft_transformer" (leads), "churn_transformer" (accounts),
or a baseline ("lightgbm", "logistic"; ml.engine.baseline_serving). Scoring code asks for a `ServedTableModel` and
never branches on the family itself; the churn Transformer reads activity sequences too, so churn scoring
handles that one family itself (ml.churn_services).

Artifacts are loaded once per process (ml.registry's cache for checkpoints, a small LRU here for baselines);
a missing or altered artifact raises ml.engine.checkpoints.CheckpointError either way.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml.engine.baseline_serving import BASELINE_FAMILIES, BaselineArtifactError, BaselineScorer, baseline_artifact_load
from ml.engine.schema import TableSchema

_BASELINE_CACHE_SIZE = 8


def family_of(architecture: str) -> str:
    """The family ("transformer", "lightgbm", "logistic") of a stored architecture name: every net
    ("ft_transformer", "churn_transformer", ...) is a Transformer."""
    return architecture if architecture in BASELINE_FAMILIES else "transformer"


class ServedTableModel(Protocol):
    family: str

    @property
    def schema(self) -> TableSchema: ...

    @property
    def text_columns(self) -> list[str]: ...

    def probabilities(self, frame: pd.DataFrame, *, batch_size: int = 1024) -> np.ndarray: ...

    def score(
        self, frame: pd.DataFrame, *, batch_size: int = 1024, text_evidence: Any = None
    ) -> tuple[np.ndarray, list[list[dict[str, Any]]]]: ...


@dataclass
class TransformerServed:
    """The FT-Transformer: calibrated probabilities, integrated-gradients reasons and the sentence behind a
    text factor (ml.engine.explain)."""

    model: Any  # ml.engine.inference.ScoringModel
    family: str = "transformer"

    @property
    def schema(self) -> TableSchema:
        return self.model.preprocessor.schema

    @property
    def text_columns(self) -> list[str]:
        return list(self.model.preprocessor.text_token_columns)

    def probabilities(self, frame: pd.DataFrame, *, batch_size: int = 1024) -> np.ndarray:
        return np.asarray(self.model.probabilities(self.model.encode(frame), batch_size=batch_size))

    def score(self, frame: pd.DataFrame, *, batch_size: int = 1024, text_evidence: Any = None):
        from ml.engine.explain import predictions_explain

        encoded = self.model.encode(frame)
        probability = self.model.probabilities(encoded, batch_size=batch_size)
        factors = predictions_explain(
            model=self.model, frame=frame, encoded=encoded, batch_size=batch_size, text_evidence=text_evidence
        )
        return np.asarray(probability), factors


@dataclass
class BaselineServed:
    """A tuned LightGBM or logistic regression: calibrated probabilities and its own additive terms as
    reasons, worded like the Transformer's."""

    scorer: BaselineScorer

    @property
    def family(self) -> str:
        return self.scorer.family

    @property
    def schema(self) -> TableSchema:
        return self.scorer.schema

    @property
    def text_columns(self) -> list[str]:
        return []

    def probabilities(self, frame: pd.DataFrame, *, batch_size: int = 1024) -> np.ndarray:
        return self.scorer.probabilities(frame)

    def score(self, frame: pd.DataFrame, *, batch_size: int = 1024, text_evidence: Any = None):
        from ml.engine.explain import factors_top

        probability = self.scorer.probabilities(frame)
        factors = factors_top(
            frame=frame, attributions=self.scorer.field_attributions(frame), preprocessor=self.scorer.fields_view()
        )
        return probability, factors


_baselines: OrderedDict[tuple[int, str], BaselineScorer] = OrderedDict()
_baselines_lock = Lock()


def baseline_load_cached(*, model_version_id: int, artifact_path: str, sha256: str) -> BaselineScorer:
    from ml.engine.checkpoints import CheckpointError
    from ml.registry import artifact_absolute_path

    key = (model_version_id, sha256)
    with _baselines_lock:
        if key in _baselines:
            _baselines.move_to_end(key)
            return _baselines[key]
    try:
        scorer = baseline_artifact_load(path=artifact_absolute_path(artifact_path), expected_sha256=sha256 or None)
    except BaselineArtifactError as exc:
        raise CheckpointError(str(exc)) from exc
    with _baselines_lock:
        _baselines[key] = scorer
        while len(_baselines) > _BASELINE_CACHE_SIZE:
            _baselines.popitem(last=False)
    return scorer


def served_model_load(*, model_version: Any, device: str = "auto") -> ServedTableModel:
    """The served model of a table ModelVersion (leads, pooled): a Transformer or a baseline."""
    if model_version.architecture in BASELINE_FAMILIES:
        return BaselineServed(
            scorer=baseline_load_cached(
                model_version_id=model_version.id,
                artifact_path=model_version.artifact_path,
                sha256=model_version.artifact_sha256,
            )
        )
    from ml.registry import model_load_cached

    return TransformerServed(
        model=model_load_cached(
            model_version_id=model_version.id,
            artifact_path=model_version.artifact_path,
            sha256=model_version.artifact_sha256,
            device=device,
        )
    )


def served_cache_clear() -> None:
    with _baselines_lock:
        _baselines.clear()
