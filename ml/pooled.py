"""The pooled fallback model: one lead model trained on every organisation's outcomes, served to the
organisations that have too few of their own to train (fewer than ml.training_recipe.MIN_POSITIVES conversions
or ML_MIN_TRAINING_ROWS rows) or whose own candidates have not passed the gate yet.

Why pooled rather than "the best baseline trained on what exists": with a handful of conversions nothing
can be honestly evaluated (a held-out split has no positives), and a baseline would need its own artifact
format and explainer. The pooled model is an ordinary FT-Transformer checkpoint with held-out metrics, the
gate and the same explanations; every score it gives says so (Prediction.source = "pooled" and a note with
the organisation's own number of conversions).

It learns from all tenants' rows, so it is opt-in: settings.ML_POOLED_FALLBACK. It keeps only features that
mean the same everywhere: no custom CRM fields (each CRM names them differently) and no free-form job title
(one tenant's values must not travel in a model that scores another's leads); the bucketed seniority and
function stay. Its ModelVersion has organization NULL and its own version numbers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError

from ml.engine.schema import TableSchema
from ml.features.lead import EXCLUDED_FIELDS, PROPERTY_PREFIX, lead_schema, lead_training_frame
from ml.models import ModelVersion, Task
from ml.selectors import organization_conversions_count
from salesai.core.models import Organization

logger = logging.getLogger(__name__)

POOLED_STORE_FOLDER = "_pooled"  # artifacts under MODEL_STORE_DIR/_pooled/<task>/v<N>.pt
POOLED_DROPPED_COLUMNS = ("job_title",)


def pooled_training_frame(*, horizon_days: int) -> tuple[pd.DataFrame, pd.Series]:
    """Every organisation's point-in-time rows, stacked (contact ids are unique across organisations, so
    the group split still keeps each contact on one side), without tenant-specific columns."""
    frames, labels = [], []
    for organization_id in Organization.objects.order_by("id").values_list("id", flat=True):
        frame, y = lead_training_frame(organization_id=organization_id, horizon_days=horizon_days)
        if len(frame):
            dropped = [c for c in frame.columns if str(c).startswith(PROPERTY_PREFIX) or c in POOLED_DROPPED_COLUMNS]
            frames.append(frame.drop(columns=dropped))
            labels.append(y)
    if not frames:
        return pd.DataFrame(), pd.Series([], dtype=np.int64, name="converted")
    return pd.concat(frames), pd.concat(labels)


def pooled_schema(frame: pd.DataFrame) -> TableSchema:
    schema = lead_schema(frame)
    return TableSchema(
        columns=tuple(c for c in schema.columns if c.name not in POOLED_DROPPED_COLUMNS),
        reference_column=schema.reference_column,
    )


def pooled_model_train(*, task: str = Task.LEAD_CONVERSION, params: dict[str, Any] | None = None) -> ModelVersion:
    """Train the pooled model like an organisation's, through the one training recipe (same split, families,
    gate against the current pooled champion), and register it with organization NULL."""
    from ml.engine.inference import torch_threads_set
    from ml.training_recipe import (
        BASELINE_LIGHTGBM_CONFIGS,
        HORIZON_DAYS,
        MIN_POSITIVES,
        TrainingData,
        TrainingSpec,
        lightgbm_configs_validate,
        recipe_train,
        table_transformer_recipe,
        training_params_build,
    )

    if not settings.ML_POOLED_FALLBACK:
        raise ValidationError({"pooled": "The pooled fallback is off: set ML_POOLED_FALLBACK=True to train it."})
    if task != Task.LEAD_CONVERSION:
        raise ValidationError({"task": f"Training for {task!r} is not available yet."})
    params = dict(params or {})
    horizon_days = int(params.pop("horizon_days", HORIZON_DAYS))
    lightgbm_configs = lightgbm_configs_validate(params.pop("baseline_lightgbm_configs", BASELINE_LIGHTGBM_CONFIGS))
    training_params = training_params_build(params)
    frame, labels = pooled_training_frame(horizon_days=horizon_days)
    torch_threads_set(settings.ML_TORCH_THREADS)
    schema = pooled_schema(frame) if len(frame) else None
    data = TrainingData(
        frame=frame,
        labels=np.asarray(labels).astype(int),
        schema=schema,
        baseline_schema=schema.without_text() if schema is not None else None,
        what="rows across organisations",
    )
    spec = TrainingSpec(
        task=task,
        organization=None,
        params=training_params,
        lightgbm_configs=lightgbm_configs,
        artifact_relative=lambda version: f"{POOLED_STORE_FOLDER}/{task}/v{version}.pt",
        extra_metrics={"horizon_days": horizon_days, "pooled": {"organizations": int(Organization.objects.count())}},
        min_positives=MIN_POSITIVES,
    )
    return recipe_train(
        spec=spec,
        data=data,
        transformer=table_transformer_recipe(
            params=training_params,
            feature_schema_extra={
                "excluded_fields": {**EXCLUDED_FIELDS, "custom CRM fields, job title": "pooled model: tenant-specific"},
                "horizon_days": horizon_days,
            },
        ),
    )


def pooled_fallback_note(*, organization_id: int) -> str:
    """Said on every score the pooled model gives an organisation."""
    from ml.training_recipe import MIN_POSITIVES

    conversions = organization_conversions_count(organization_id=organization_id)
    plural = "s" if conversions != 1 else ""
    if conversions < MIN_POSITIVES:
        why = f"this organisation has only {conversions} conversion{plural} (its own model needs {MIN_POSITIVES})."
    else:
        why = f"this organisation ({conversions} conversion{plural}) has no model of its own that passed the gate yet."
    return f"Scored by the pooled model (all organisations' outcomes): {why}"[:300]
