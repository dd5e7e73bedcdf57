"""One training recipe for every task: frame -> split -> families -> calibration -> gate -> registry.

Lead, churn and pooled training differ only in their data and in how their Transformer is fitted and
scored; each supplies that as a `TrainingData` and a `TransformerRecipe` (ml.training_services,
ml.churn_services, ml.pooled) and calls `recipe_train`. The recipe:
1. refuses too little data (a ValidationError that says what is missing; nothing is registered);
2. splits by group with a stable hash (ml.engine.splits), so a later candidate and this version share test rows;
3. applies reps' feedback to the training rows when the task has any (ml.engine.feedback_labels);
4. fits the Transformer, then a tuned LightGBM and a logistic regression on the same rows (ml.engine.families);
5. lets the gate choose the family that serves and decide on promotion against the champion, both by paired
   DeLong intervals on shared held-out rows (ml.engine.gate);
6. registers the served family's artifact as the new ModelVersion (ml.model_versions), all families'
   held-out metrics side by side in its metrics, and the gate's decision with its intervals.
Same data + same seed = same metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError

from ml.engine.families import FamilyFit, baselines_fit
from ml.engine.feedback_labels import WeightedTrainingSet
from ml.engine.gate import PREFERRED_FAMILY, family_choose
from ml.engine.schema import TableSchema
from ml.model_versions import champion_evidence_build, model_version_gate_decide, model_version_register
from ml.models import ModelVersion, TrainingRun
from salesai.core.models import Organization

logger = logging.getLogger(__name__)

MIN_POSITIVES = 5  # fewer positive examples cannot train (or honestly evaluate) a model
HORIZON_DAYS = 90  # table tasks (leads, pooled): a conversion within this many days of a snapshot is a positive
# LightGBM random-search size in every training run (params "baseline_lightgbm_configs" overrides it):
# small enough for the nightly demo retraining, large enough that the baseline is a tuned one.
BASELINE_LIGHTGBM_CONFIGS = 8


@dataclass
class TrainingData:
    frame: pd.DataFrame
    labels: np.ndarray  # 0/1 per row
    schema: TableSchema  # the Transformer's columns (text included)
    baseline_schema: TableSchema  # the baselines' columns (text-free)
    what: str = "rows"  # plain words for the shortage message: "<rows> account snapshots with <n> churns"
    positives_name: str = "conversions"
    # reps' verdicts reweigh / relabel the training rows of this split (leads only)
    feedback: Callable[[tuple[np.ndarray, np.ndarray, np.ndarray]], WeightedTrainingSet] | None = None
    drift_reference: bool = True  # store the training distributions for drift (PSI) of later scoring runs


@dataclass
class TransformerRecipe:
    """How a task's Transformer is fitted (`fit(frame=, labels=, split=, weights=, schema=)`) and scores the rows
    at some positions of the training frame (`probabilities(trained, frame, rows)`), and how the current
    champion, whatever its family, scores them (`champion_probabilities(champion, frame, rows)`)."""

    fit: Callable[..., Any]
    probabilities: Callable[[Any, pd.DataFrame, np.ndarray], np.ndarray]
    champion_probabilities: Callable[[ModelVersion, pd.DataFrame, np.ndarray], np.ndarray]
    feature_schema: Callable[[Any], dict[str, Any]]


@dataclass
class TrainingSpec:
    task: str
    organization: Organization | None
    params: Any  # ml.engine.training.TrainingParams
    lightgbm_configs: int
    artifact_relative: Callable[[int], str]  # version -> path under MODEL_STORE_DIR (.pt)
    extra_metrics: dict[str, Any]
    training_run_id: int | None = None
    min_positives: int = MIN_POSITIVES


def training_data_check(*, data: TrainingData, min_positives: int = MIN_POSITIVES) -> None:
    """Too little to train is a ValidationError with the numbers, never a crash deeper down."""
    rows, positives = len(data.frame), int(np.asarray(data.labels).sum())
    if rows < settings.ML_MIN_TRAINING_ROWS or positives < min_positives or positives == rows:
        raise ValidationError(
            {
                "training_data": (
                    f"Not enough history to train: {rows} {data.what} with {positives} {data.positives_name} "
                    f"(need {settings.ML_MIN_TRAINING_ROWS} rows, {min_positives} {data.positives_name} and some without)."
                )
            }
        )
    usable = [
        c.name
        for c in data.baseline_schema.columns
        if c.name in data.frame.columns and data.frame[c.name].astype(object).notna().any()
    ]
    if not usable and not data.schema.text_columns:
        raise ValidationError({"training_data": "Every feature column is empty: nothing to learn from."})


def recipe_train(*, spec: TrainingSpec, data: TrainingData, transformer: TransformerRecipe) -> ModelVersion:
    from ml.engine.splits import stable_group_split

    training_data_check(data=data, min_positives=spec.min_positives)
    params = spec.params
    # The frame's index is the group (contact or account id): all its rows land in one part.
    split = stable_group_split(
        np.asarray(data.labels),
        groups=np.asarray(data.frame.index),
        valid_fraction=params.valid_fraction,
        test_fraction=params.test_fraction,
        seed=params.seed,
    )
    weighted = (
        data.feedback(split)
        if data.feedback is not None
        else WeightedTrainingSet(
            frame=data.frame, labels=np.asarray(data.labels).astype(int), weights=None, split=split, changed_rows=0
        )
    )
    frame, labels, split, weights = (
        weighted.frame,
        np.asarray(weighted.labels).astype(int),
        weighted.split,
        weighted.weights,
    )
    train_rows, valid_rows, test_rows = split
    for name, rows in (("training", train_rows), ("validation", valid_rows)):
        if len(np.unique(labels[rows])) < 2:
            raise ValidationError(
                {
                    "training_data": f"The {name} part has only one class: too few positive "
                    "outcomes (or groups) to split; add history and retrain."
                }
            )

    started = time.monotonic()
    trained = transformer.fit(frame=frame, labels=labels, split=split, weights=weights, schema=data.schema)
    transformer_seconds = round(time.monotonic() - started, 2)
    families: dict[str, FamilyFit] = {
        PREFERRED_FAMILY: FamilyFit(
            name=PREFERRED_FAMILY,
            metrics=trained.metrics,
            test_probabilities=np.asarray(transformer.probabilities(trained, frame, test_rows), dtype=np.float64),
        )
    }
    families.update(
        baselines_fit(
            frame=frame,
            labels=labels,
            schema=data.baseline_schema,
            split=split,
            seed=params.seed,
            lightgbm_configs=spec.lightgbm_configs,
            calibration=params.calibration,
            sample_weight=weights,
        )
    )
    scored = {name: fit.test_probabilities for name, fit in families.items() if fit.test_probabilities is not None}
    choice = family_choose(
        labels=labels[test_rows], probabilities=scored, prefer_always=not settings.ML_GATE_REQUIRE_BEATS_BASELINE
    )
    served = families[choice.family]

    summaries = {name: fit.summary() for name, fit in families.items() if name != PREFERRED_FAMILY}
    transformer_summary = {**trained.metrics, "train_seconds": transformer_seconds}
    metrics = {
        **(trained.metrics if choice.family == PREFERRED_FAMILY else served.metrics),
        "split_rows": trained.metrics.get("split_rows"),
        "best_epoch": trained.metrics.get("best_epoch"),
        "family": choice.family,
        "training_seconds": transformer_seconds,
        "transformer": transformer_summary,
        "baselines": summaries,
        **spec.extra_metrics,
    }
    if weighted.changed_rows or data.feedback is not None:
        metrics["feedback"] = {"rows_changed": weighted.changed_rows}
    if data.drift_reference:
        metrics["reference_distributions"] = _drift_reference(
            data=data, frame=frame, split=split, served=served, trained=trained, transformer=transformer
        )

    architecture = trained.architecture if choice.family == PREFERRED_FAMILY else choice.family
    feature_schema = {**transformer.feature_schema(trained), "family": choice.family}
    if choice.family != PREFERRED_FAMILY:
        feature_schema["baseline_schema"] = data.baseline_schema.to_dict()

    def artifact_relative(version: int) -> str:
        relative = spec.artifact_relative(version)
        return (
            relative if choice.family == PREFERRED_FAMILY else relative.removesuffix(".pt") + f".{choice.family}.joblib"
        )

    def artifact_write(path: Path, metadata: dict[str, Any]) -> str:
        if choice.family == PREFERRED_FAMILY:
            from ml.engine.checkpoints import checkpoint_save

            return checkpoint_save(trained=trained, path=path, task=spec.task, metadata=metadata)
        from ml.engine.baseline_serving import baseline_artifact_save, baseline_scorer_build

        scorer = baseline_scorer_build(
            model=served.model, schema=data.baseline_schema, train_frame=frame.iloc[train_rows]
        )
        return baseline_artifact_save(scorer=scorer, path=path, metadata=metadata)

    def decide(champion: ModelVersion | None) -> dict[str, Any]:
        evidence = champion_evidence_build(
            champion=champion,
            groups=np.asarray(frame.index),
            labels=labels,
            test_rows=test_rows,
            candidate_test_probabilities=served.test_probabilities,
            champion_probabilities=lambda champion, rows: transformer.champion_probabilities(champion, frame, rows),
        )
        return model_version_gate_decide(choice=choice, candidate_metrics=metrics, champion=evidence)

    seen = np.asarray(frame.index)[np.concatenate([train_rows, valid_rows])]
    version = model_version_register(
        organization=spec.organization,
        task=spec.task,
        architecture=architecture,
        artifact_relative=artifact_relative,
        artifact_write=artifact_write,
        trained_groups=seen,
        metrics=metrics,
        feature_schema=feature_schema,
        trained_rows=len(frame),
        decide=decide,
        training_run_id=spec.training_run_id,
    )
    if spec.training_run_id is not None:
        TrainingRun.objects.filter(pk=spec.training_run_id).update(
            log=[
                *trained.log,
                {
                    "gate": version.metrics["gate"],
                    "families": {
                        name: {
                            key: values.get(key)
                            for key in ("roc_auc", "brier", "ece", "train_seconds", "error")
                            if key in values
                        }
                        for name, values in {**summaries, "transformer": transformer_summary}.items()
                    },
                },
            ]
        )
    gate = version.metrics["gate"]
    logger.info(
        "trained %s v%s for %s: %s serves (roc_auc=%s), %s; %s",
        spec.task,
        version.version,
        getattr(spec.organization, "slug", "pooled"),
        choice.family,
        metrics.get("roc_auc"),
        "promoted" if gate["promote"] else "kept as candidate",
        "; ".join(gate["reasons"]),
    )
    return version


def _drift_reference(
    *,
    data: TrainingData,
    frame: pd.DataFrame,
    split: tuple[np.ndarray, ...],
    served: FamilyFit,
    trained: Any,
    transformer: TransformerRecipe,
) -> dict[str, Any]:
    """The served family's scores on the held-out rows and the training rows' fields (ml.engine.drift)."""
    from ml.engine.drift import FieldSpec, reference_distributions_build

    held_out = np.concatenate([np.asarray(split[1]), np.asarray(split[2])]).astype(np.int64)
    if served.name == PREFERRED_FAMILY:
        scores = transformer.probabilities(trained, frame, held_out)
    else:
        scores = served.model.probabilities(frame.iloc[held_out])
    fields = [FieldSpec(c.name, c.kind, c.display_label) for c in data.schema.columns]
    return reference_distributions_build(frame=frame, fields=fields, scores=np.asarray(scores))


# --- parts the tasks share: params, and the FT-Transformer of table tasks (leads, pooled) -----------------
def training_params_build(params: dict[str, Any], defaults: dict[str, Any] | None = None) -> Any:
    """TrainingParams from user params over task defaults; a bad key or value is a ValidationError."""
    from ml.engine.training import TrainingParams

    try:
        return TrainingParams.from_dict({"device": settings.ML_DEVICE, **(defaults or {}), **params})
    except (TypeError, ValueError) as exc:
        raise ValidationError({"params": str(exc)}) from exc


def lightgbm_configs_validate(value: Any) -> int:
    """The params' `baseline_lightgbm_configs`, a whole number in 1..200, or a ValidationError."""
    try:
        configs = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"params": "baseline_lightgbm_configs must be a whole number."}) from exc
    if not 1 <= configs <= 200:
        raise ValidationError({"params": "baseline_lightgbm_configs must be between 1 and 200."})
    return configs


def table_transformer_recipe(*, params: Any, feature_schema_extra: dict[str, Any]) -> Any:
    """The FT-Transformer part of the recipe for table tasks (leads, pooled)."""
    from ml.engine.training import train_tabular_model
    from ml.serving import served_model_load

    def fit(*, frame, labels, split, weights, schema):
        return train_tabular_model(
            frame=frame, labels=labels, schema=schema, params=params, split=split, sample_weight=weights
        )

    def probabilities(trained, frame, rows):
        model = trained.scoring_model()
        return model.probabilities(model.encode(frame.iloc[rows]))

    def champion_probabilities(champion, frame, rows):
        return served_model_load(model_version=champion, device=settings.ML_DEVICE).probabilities(frame.iloc[rows])

    def feature_schema(trained):
        return {
            "preprocessor": trained.preprocessor.to_dict(),
            "features": [
                {"name": c.name, "kind": c.kind, "label": c.display_label} for c in trained.preprocessor.schema.columns
            ],
            "text_columns": trained.preprocessor.schema.text_columns,
            **feature_schema_extra,
        }

    return TransformerRecipe(
        fit=fit,
        probabilities=probabilities,
        champion_probabilities=champion_probabilities,
        feature_schema=feature_schema,
    )
