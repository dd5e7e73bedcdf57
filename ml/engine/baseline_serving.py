"""A baseline that serves: scores and per-field reasons from a fitted LightGBM or logistic model. Pure: no Django.

When the gate (ml.engine.gate) picks a baseline family, scoring must look the same to its callers as with the
Transformer: a calibrated probability and the top fields that pushed it up or down, in the same plain words
(`ml.engine.explain.factors_top`). The reasons are the models' own additive terms on the logit:
- LightGBM: per-row feature contributions (TreeSHAP, `pred_contrib=True`), relative to the average score;
- logistic: each input term `coef * (x - mean of x in training)`, so the typical training row scores 0.
Derived inputs (a date's month, a category's frequency, one-hot columns, missing indicators) are summed back
into the original field whose name they start with. Calibration (Platt, positive slope) is monotone, so a
term that raises the logit raises the probability.

Artifacts are joblib files whose sha256 is stored on the ModelVersion and checked before anything is
unpickled: a swapped or altered file is refused (CheckpointError), as for the Transformer's checkpoints.
A pickle names the module of every class it holds; artifacts written before the pure code moved into
`ml.engine` name the old modules (`ml.baseline_serving`, `ml.baselines`, `ml.calibration`,
`ml.features.schema`), which no longer exist. The loader maps those names to their new homes
(LEGACY_MODULE_PATHS) while it unpickles, and only then: the old import paths stay gone.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.engine.schema import TableSchema

BASELINE_FAMILIES = ("lightgbm", "logistic")
ARTIFACT_FORMAT = "salesai.ml.baseline"


class BaselineArtifactError(Exception):
    """The file is missing, altered (sha256 mismatch) or not a baseline artifact."""


@dataclass(frozen=True)
class FieldsView:
    """What `ml.engine.explain.factors_top` needs of a preprocessor: the explained fields and their schema."""

    schema: TableSchema
    fields: list[str]


@dataclass
class BaselineScorer:
    family: str
    model: Any  # ml.engine.baselines.BaselineModel
    schema: TableSchema
    # logistic only: mean of each transformed training input, the zero point of its terms
    term_reference: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return [spec.name for spec in self.schema.columns if spec.kind != "text"]

    @property
    def text_columns(self) -> list[str]:
        return []  # baselines read no sentence embeddings

    def fields_view(self) -> FieldsView:
        return FieldsView(schema=self.schema, fields=self.fields)

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.probabilities(frame), dtype=np.float64)

    def field_attributions(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, fields) additive logit terms summed per original field, in `fields` order."""
        encoded = self.model.encode(frame)
        if self.family == "lightgbm":
            contributions = np.asarray(self.model.estimator.predict(encoded, pred_contrib=True), dtype=np.float64)
            names = [str(c) for c in encoded.columns]
            return self._per_field(contributions[:, : len(names)], names)
        pipeline = self.model.estimator
        transformed = np.asarray(pipeline.named_steps["columns"].transform(encoded), dtype=np.float64)
        reference = self.term_reference if self.term_reference is not None else np.zeros(transformed.shape[1])
        terms = (transformed - reference) * pipeline.named_steps["model"].coef_[0]
        names = [_strip_transformer(str(n)) for n in pipeline.named_steps["columns"].get_feature_names_out()]
        return self._per_field(terms, names)

    def _per_field(self, contributions: np.ndarray, names: list[str]) -> np.ndarray:
        fields = self.fields
        out = np.zeros((contributions.shape[0], len(fields)), dtype=np.float64)
        for column, name in enumerate(names):
            owner = field_of(name, fields)
            if owner is not None:
                out[:, fields.index(owner)] += contributions[:, column]
        return out


def field_of(name: str, fields: list[str]) -> str | None:
    """The original field an input column belongs to: itself, or the longest field its name starts with
    (derived inputs are named after their field: `created_at__month`, `industry_Tech`, ...)."""
    if name in fields:
        return name
    name = name.removeprefix("missingindicator_")
    if name in fields:
        return name
    owners = [f for f in fields if name.startswith(f)]
    return max(owners, key=len) if owners else None


def _strip_transformer(name: str) -> str:
    # ColumnTransformer names its outputs "<transformer>__<input>"; the input part is what maps to a field.
    return name.split("__", 1)[1] if "__" in name else name


def baseline_scorer_build(*, model: Any, schema: TableSchema, train_frame: pd.DataFrame) -> BaselineScorer:
    """Wrap a fitted baseline for serving; the logistic terms' zero point is the training rows' mean input."""
    reference = None
    if model.name == "logistic":
        encoded = model.encode(train_frame)
        reference = np.asarray(model.estimator.named_steps["columns"].transform(encoded), dtype=np.float64).mean(axis=0)
    return BaselineScorer(family=model.name, model=model, schema=schema, term_reference=reference)


def baseline_artifact_save(*, scorer: BaselineScorer, path: Path, metadata: dict[str, Any] | None = None) -> str:
    """Write atomically (temp file + rename) and return the file's sha256."""
    import joblib

    scorer.metadata = {**scorer.metadata, **(metadata or {}), "format": ARTIFACT_FORMAT}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".joblib")
    os.close(handle)
    try:
        joblib.dump(scorer, temporary, compress=3)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return _sha256(path)


def baseline_artifact_load(*, path: Path, expected_sha256: str | None) -> BaselineScorer:
    """Load a baseline artifact; the sha256 is checked before unpickling (never unpickle an unchecked file)."""
    import joblib

    if not path.is_file():
        raise BaselineArtifactError(f"artifact {path.name} is missing")
    if not expected_sha256:
        raise BaselineArtifactError("a baseline artifact is only loaded against its recorded sha256")
    actual = _sha256(path)
    if actual != expected_sha256:
        raise BaselineArtifactError(f"artifact {path.name} was altered (sha256 {actual[:12]}...)")
    with _legacy_module_paths():
        scorer = joblib.load(path)
    if not isinstance(scorer, BaselineScorer) or scorer.metadata.get("format") != ARTIFACT_FORMAT:
        raise BaselineArtifactError(f"{path.name} is not a baseline artifact")
    return scorer


# Module paths of pickled classes before the pure code moved into ml.engine -> where those classes live now.
# Pickles store "module + class name", so every artifact saved before the move names these modules.
LEGACY_MODULE_PATHS = {
    "ml.baseline_serving": "ml.engine.baseline_serving",
    "ml.baselines": "ml.engine.baselines",
    "ml.calibration": "ml.engine.calibration",
    "ml.features.schema": "ml.engine.schema",
}
_legacy_lock = threading.Lock()


@contextmanager
def _legacy_module_paths() -> Iterator[None]:
    """While joblib unpickles, resolve classes pickled under a LEGACY_MODULE_PATHS name from the new module.

    joblib has no hook for its unpickler's `find_class`, so its NumpyUnpickler class gets a subclass that remaps
    those names for the duration of the load (under a lock; every other name resolves as before). Nothing is
    added to sys.modules: `import ml.baselines` still fails everywhere else."""
    from joblib import numpy_pickle

    with _legacy_lock:
        original = numpy_pickle.NumpyUnpickler

        class _RemappingUnpickler(original):  # type: ignore[misc, valid-type]
            def find_class(self, module: str, name: str) -> Any:
                return super().find_class(LEGACY_MODULE_PATHS.get(module, module), name)

        numpy_pickle.NumpyUnpickler = _RemappingUnpickler
        try:
            yield
        finally:
            numpy_pickle.NumpyUnpickler = original


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
