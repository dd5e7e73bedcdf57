"""Training runs: train an organisation's model through the one training recipe, and the queued TrainingRuns.

`model_train` builds the lead task's point-in-time frames (ml.features.lead) and hands them to
ml.training_recipe (churn: ml.churn_services); `training_run_create` / `training_run_start` validate params
and queue a run on the gpu queue; `training_run_execute` is that task's body, and a new lead champion asks
for every open lead to be rescored (ml.scoring_services).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml.beat import ml_schedules_ensure
from ml.engine.feedback_labels import FeedbackWeights, WeightedTrainingSet, feedback_training_set
from ml.features.lead import EXCLUDED_FIELDS, lead_schema, lead_training_frame
from ml.models import ModelVersion, Task, TrainingRun
from ml.scoring_services import scoring_enqueue
from ml.selectors import contacts_converted_at_map, feedback_training_labels_list, model_version_champion_get
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
from salesai.core.models import Organization

# The torch-backed modules (ml.engine.*, ml.registry) are imported inside the functions that need them: the
# web process and admin import this module and should not pay for torch.

logger = logging.getLogger(__name__)

# Training-run params the service consumes itself; the rest are TrainingParams for the Transformer.
SERVICE_PARAMS = ("horizon_days", "baseline_lightgbm_configs")


def model_train(
    *,
    organization_id: int,
    task: str = Task.LEAD_CONVERSION,
    training_run_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> ModelVersion:
    """Train the lead model of an organisation through the one training recipe (ml.training_recipe): point-in-
    time rows, the FT-Transformer beside a tuned LightGBM and a logistic regression on one split, the gate
    picks the family that serves and decides on promotion (ml.engine.gate). An organisation's first model is always
    promoted: whichever family the gate chose serves."""
    if task == Task.CHURN:  # accounts, not leads: its own frames, net and checkpoint (ml.churn_services)
        from ml.churn_services import churn_model_train

        return churn_model_train(organization_id=organization_id, training_run_id=training_run_id, params=params)
    if task != Task.LEAD_CONVERSION:
        raise ValidationError({"task": f"Training for {task!r} is not available yet."})
    from ml.engine.inference import torch_threads_set
    from ml.registry import artifact_relative_path

    organization = Organization.objects.get(pk=organization_id)
    params = dict(params or {})
    horizon_days = int(params.pop("horizon_days", HORIZON_DAYS))
    lightgbm_configs = lightgbm_configs_validate(params.pop("baseline_lightgbm_configs", BASELINE_LIGHTGBM_CONFIGS))
    training_params = training_params_build(params)
    frame, labels = lead_training_frame(
        organization_id=organization.id, horizon_days=horizon_days, text=training_params.text
    )
    torch_threads_set(settings.ML_TORCH_THREADS)
    schema = lead_schema(frame) if len(frame) else None
    data = TrainingData(
        frame=frame,
        labels=np.asarray(labels).astype(int),
        schema=schema,
        what="rows",
        # Baselines stay text-free (the Transformer's text tokens are what is being measured against them).
        baseline_schema=schema.without_text() if schema is not None else None,
        feedback=lambda split: _feedback_training_set(
            organization_id=organization.id, frame=frame, labels=labels, split=split, horizon_days=horizon_days
        ),
    )
    spec = TrainingSpec(
        task=task,
        organization=organization,
        params=training_params,
        lightgbm_configs=lightgbm_configs,
        artifact_relative=lambda version: artifact_relative_path(
            organization_slug=organization.slug, task=task, version=version
        ),
        extra_metrics={"horizon_days": horizon_days},
        training_run_id=training_run_id,
        min_positives=MIN_POSITIVES,
    )
    had_champion = model_version_champion_get(organization_id=organization.id, task=task) is not None
    model_version = recipe_train(
        spec=spec,
        data=data,
        transformer=table_transformer_recipe(
            params=training_params,
            feature_schema_extra={
                "excluded_fields": EXCLUDED_FIELDS,
                "horizon_days": horizon_days,
                "snapshots": sorted({ts.isoformat() for ts in frame["as_of"]}) if len(frame) else [],
            },
        ),
    )
    if not had_champion:
        # From its first model on, an organisation is retrained and rescored nightly.
        ml_schedules_ensure(organization_id=organization.id)
    return model_version


def _feedback_training_set(
    *,
    organization_id: int,
    frame: Any,
    labels: Any,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    horizon_days: int,
) -> WeightedTrainingSet:
    return feedback_training_set(
        frame=frame,
        labels=labels,
        split=split,
        feedback=feedback_training_labels_list(organization_id=organization_id),
        converted_at=contacts_converted_at_map(organization_id=organization_id),
        horizon_days=horizon_days,
        weights=FeedbackWeights(
            agree_weight=settings.ML_FEEDBACK_AGREE_WEIGHT,
            disagree_weight=settings.ML_FEEDBACK_DISAGREE_WEIGHT,
            override_weight=settings.ML_FEEDBACK_OVERRIDE_WEIGHT,
        ),
    )


def training_run_execute(*, training_run_id: int) -> ModelVersion | None:
    """Run a queued TrainingRun once: a finished run (succeeded or failed) is not re-run, and a run
    already marked running is left to the worker that owns it (acks_late may redeliver)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=training_run_id)
        if run.status != TrainingRun.Status.QUEUED:
            logger.info("training run %s is %s: nothing to do", run.pk, run.status)
            return run.model_versions.order_by("-version").first()
        run.status = TrainingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        model_version = model_train(
            organization_id=run.organization_id, task=run.task, training_run_id=run.pk, params=run.params
        )
    except Exception as exc:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, error=_error_text(exc), finished_at=timezone.now()
        )
        if isinstance(exc, ValidationError):  # bad data or params: recorded on the run, not a crash
            return None
        raise
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, finished_at=timezone.now())
    if model_version.status == ModelVersion.Status.CHAMPION and model_version.task == Task.LEAD_CONVERSION:
        scoring_enqueue(organization_id=run.organization_id)  # a new champion: every open lead gets its score
    return model_version


def training_run_create(
    *, organization_id: int, task: str = Task.LEAD_CONVERSION, params: dict[str, Any] | None = None
) -> TrainingRun:
    """A queued TrainingRun with validated params (nothing is enqueued: see `training_run_start`)."""
    if task not in Task.values:
        raise ValidationError({"task": f"Unknown task {task!r}."})
    from ml.engine.training import TrainingParams

    params = dict(params or {})
    try:
        TrainingParams.from_dict({k: v for k, v in params.items() if k not in SERVICE_PARAMS})
    except (TypeError, ValueError) as exc:
        raise ValidationError({"params": str(exc)}) from exc
    if "baseline_lightgbm_configs" in params:
        lightgbm_configs_validate(params["baseline_lightgbm_configs"])
    return TrainingRun.objects.create(organization_id=organization_id, task=task, params=params)


def training_run_start(
    *, organization_id: int, task: str = Task.LEAD_CONVERSION, params: dict[str, Any] | None = None
) -> TrainingRun:
    """Queue a training run; the gpu-queue task starts once this transaction commits."""
    run = training_run_create(organization_id=organization_id, task=task, params=params)
    from ml.tasks import train_model  # tasks import this module: import here to avoid a cycle

    transaction.on_commit(lambda: train_model.delay(run.pk))
    return run


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"error": exc.messages}
        return "; ".join(f"{key}: {' '.join(value)}" for key, value in messages.items())
    return f"{type(exc).__name__}: {exc}"
