"""Write-side churn services: train and register the churn model, score customer accounts.

The Django side of churn, as ml.services is for leads: settings in, frames from ml.features.churn, the pure
training code (ml.churn_training) and the shared metrics, baselines, gate and registry, results stored as
ModelVersion (task "churn") and Prediction rows with `company` set. `ml.services.model_train(task="churn")`
dispatches here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ml.features.churn import (
    EXCLUDED_FIELDS,
    HORIZON_DAYS_DEFAULT,
    churn_property_keys,
    churn_schema,
    churn_scoring_frame,
    churn_training_frame,
)
from ml.models import ModelVersion, Prediction, Task, TrainingRun
from ml.selectors import model_version_champion_get
from ml.signals import predictions_updated
from salesai.core.models import Company, Organization

logger = logging.getLogger(__name__)

MIN_POSITIVES = 5  # fewer churned examples cannot train (or honestly evaluate) a model
BASELINE_LIGHTGBM_CONFIGS = 8
SCORING_CHUNK = 2_000  # accounts per frame / transaction
# Churn frames are small (a few hundred accounts, snapshots every two weeks): a narrow one-block net with
# strong dropout and weight decay, since the lead defaults memorise the training accounts within one or two
# epochs on the demo CRM (its validation loss never improved after epoch 1); larger held-out parts keep
# enough churned accounts in validation and test. Params override them.
TRAINING_DEFAULTS = {
    "batch_size": 128, "epochs": 40, "patience": 6, "valid_fraction": 0.2, "test_fraction": 0.2,
    "d_token": 16, "n_layers": 1, "ffn_dropout": 0.3, "attention_dropout": 0.2, "residual_dropout": 0.1,
    "weight_decay": 0.01,
}


class NoChurnModel(ValidationError):
    """Churn scoring was asked for but the organisation has no churn champion yet."""


# --- training -----------------------------------------------------------------------------------------------
def churn_model_train(
    *, organization_id: int, training_run_id: int | None = None, params: dict[str, Any] | None = None
) -> ModelVersion:
    """Train the churn Transformer plus tuned LightGBM and logistic baselines on one split, save the
    checkpoint, register a candidate ModelVersion (task "churn") with all three metric sets side by side,
    and let the gate decide on promotion. Too little history raises ValidationError; nothing is registered."""
    from ml.baselines import baselines_train_evaluate
    from ml.churn_training import train_churn_model
    from ml.inference import torch_threads_set
    from ml.registry import artifact_absolute_path, artifact_relative_path, checkpoint_save
    from ml.training import TrainingParams, holdout_split

    organization = Organization.objects.get(pk=organization_id)
    params = dict(params or {})
    horizon_days = int(params.pop("horizon_days", HORIZON_DAYS_DEFAULT))
    lightgbm_configs = int(params.pop("baseline_lightgbm_configs", BASELINE_LIGHTGBM_CONFIGS))
    try:
        training_params = TrainingParams.from_dict({"device": settings.ML_DEVICE, **TRAINING_DEFAULTS, **params})
    except (TypeError, ValueError) as exc:
        raise ValidationError({"params": str(exc)}) from exc

    built = churn_training_frame(organization_id=organization.id, horizon_days=horizon_days,
                                 text=training_params.text)
    frame, labels = built.frame, built.labels
    positives = int(labels.sum())
    if len(frame) < settings.ML_MIN_TRAINING_ROWS or positives < MIN_POSITIVES or positives == len(labels):
        raise ValidationError({"training_data": (
            f"Not enough churn history to train: {len(frame)} account snapshots with {positives} churns "
            f"(need {settings.ML_MIN_TRAINING_ROWS} snapshots, {MIN_POSITIVES} churns and some retained accounts)."
        )})
    torch_threads_set(settings.ML_TORCH_THREADS)
    schema = churn_schema(frame)
    split = holdout_split(np.asarray(labels), groups=frame.index.to_numpy(),
                          valid_fraction=training_params.valid_fraction,
                          test_fraction=training_params.test_fraction, seed=training_params.seed)
    started = time.monotonic()
    trained = train_churn_model(frame=frame, sequences=built.sequences, labels=labels, schema=schema,
                                params=training_params, split=split)
    seconds = round(time.monotonic() - started, 2)
    baselines = baselines_train_evaluate(frame=frame, labels=labels, schema=schema, split=split,
                                    seed=training_params.seed, lightgbm_configs=lightgbm_configs,
                                    calibration=training_params.calibration)
    metrics = {**trained.metrics, "training_seconds": seconds, "horizon_days": horizon_days,
               "rows_total": len(frame), "positives": positives, "baselines": baselines}
    feature_schema = {
        "preprocessor": trained.preprocessor.to_dict(),
        "features": [{"name": c.name, "kind": c.kind, "label": c.display_label}
                     for c in trained.preprocessor.schema.columns],
        "sequence": {"length": trained.config.sequence_length, "text_dim": trained.config.text_dim},
        "excluded_fields": EXCLUDED_FIELDS,
        "churn_date_property": settings.ML_CHURN_DATE_PROPERTY,
        "horizon_days": horizon_days,
    }
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=organization.id)
        versions = ModelVersion.objects.filter(organization=organization, task=Task.CHURN)
        latest = versions.aggregate(v=Max("version"))["v"]
        version = (latest or 0) + 1
        relative = artifact_relative_path(organization_slug=organization.slug, task=Task.CHURN, version=version)
        sha256 = checkpoint_save(trained=trained, path=artifact_absolute_path(relative), task=Task.CHURN,
                                 metadata={"organization": organization.slug, "version": version,
                                           "training_run_id": training_run_id})
        champion = ModelVersion.objects.filter(organization=organization, task=Task.CHURN,
                                               status=ModelVersion.Status.CHAMPION).first()
        # ml.services dispatches here: import it late.
        from ml.services import model_version_gate_decide, model_version_promote

        gate = model_version_gate_decide(candidate_metrics=metrics, champion=champion)
        metrics["gate"] = gate
        model_version = ModelVersion.objects.create(
            organization=organization, task=Task.CHURN, version=version, status=ModelVersion.Status.CANDIDATE,
            architecture=trained.architecture, training_run_id=training_run_id, metrics=metrics,
            feature_schema=feature_schema, artifact_path=relative, artifact_sha256=sha256, trained_rows=len(frame),
        )
        if training_run_id is not None:
            TrainingRun.objects.filter(pk=training_run_id).update(log=[*trained.log, {"gate": gate}])
        if gate["promote"]:
            model_version = model_version_promote(model_version_id=model_version.id)
    logger.info("trained churn v%s for %s: roc_auc=%s rows=%s in %ss; gate: %s", version, organization.slug,
                metrics.get("roc_auc"), len(frame), seconds, "promoted" if gate["promote"] else "kept as candidate")
    return model_version


def organization_has_churn_labels(*, organization_id: int) -> bool:
    """Whether any account has churned (a churn-date property or a lost renewal deal): worth training."""
    from ml.features.churn import churn_dates

    return bool(churn_dates(organization_id=organization_id))


# --- scoring ------------------------------------------------------------------------------------------------
def accounts_score(
    *, organization_id: int, company_ids: list[int] | None = None, model_version_id: int | None = None
) -> list[int]:
    """Score current customers (not churned, not deleted; narrowed to `company_ids`) with the churn champion
    (or the given version) and store Predictions (task "churn", company set): the new row is current, the
    account's previous current churn row becomes history. Returns the new prediction ids."""
    import ml.churn_training  # noqa: F401  registers the churn architecture with ml.registry
    from ml.churn_explain import churn_factors
    from ml.inference import torch_threads_set
    from ml.registry import model_load_cached

    version = _scoring_version(organization_id=organization_id, model_version_id=model_version_id)
    torch_threads_set(settings.ML_TORCH_THREADS)
    model = model_load_cached(model_version_id=version.id, artifact_path=version.artifact_path,
                              sha256=version.artifact_sha256, device=settings.ML_DEVICE)
    net = model.net
    property_keys = churn_property_keys(model.preprocessor.schema)
    as_of = timezone.now()
    ids = None if company_ids is None else sorted({int(i) for i in company_ids})
    chunks = [None] if ids is None else [ids[i : i + SCORING_CHUNK] for i in range(0, len(ids), SCORING_CHUNK)]
    prediction_ids: list[int] = []
    for chunk in chunks:
        built = churn_scoring_frame(organization_id=organization_id, as_of=as_of, company_ids=chunk,
                                    property_keys=property_keys, sequence_length=net.config.sequence_length,
                                    text=net.config.text_dim > 0)
        if not len(built):
            continue
        from ml.churn_training import churn_logits

        encoded = model.encode(built.frame)
        logits = churn_logits(net, encoded, built.sequences, device=model.device,
                              batch_size=settings.ML_SCORING_BATCH_SIZE)
        probabilities = model.calibrator.transform(logits)
        factors = churn_factors(net=net, preprocessor=model.preprocessor, frame=built.frame, encoded=encoded,
                                sequences=built.sequences, device=model.device,
                                batch_size=settings.ML_SCORING_BATCH_SIZE)
        prediction_ids += _predictions_write(organization_id=organization_id, model_version=version,
                                             company_ids=[int(i) for i in built.frame.index],
                                             probabilities=probabilities, factors=factors)
    if prediction_ids:
        # Listeners (CRM writeback of churn risk) act only on committed scores; no contact changed here.
        transaction.on_commit(
            lambda: predictions_updated.send_robust(sender=Prediction, organization_id=organization_id, contact_ids=[])
        )
    return prediction_ids


def _scoring_version(*, organization_id: int, model_version_id: int | None) -> ModelVersion:
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id, organization_id=organization_id).first()
        if version is None or version.task != Task.CHURN:
            raise ValidationError({"model_version_id": "No churn model of that id in this organization."})
        return version
    champion = model_version_champion_get(organization_id=organization_id, task=Task.CHURN)
    if champion is None:
        raise NoChurnModel({"model_version_id": "This organization has no churn model yet: train one."})
    return champion


def _predictions_write(*, organization_id: int, model_version: ModelVersion, company_ids: list[int],
                       probabilities: np.ndarray, factors: list[list[dict[str, Any]]]) -> list[int]:
    with transaction.atomic():
        # Lock the accounts (id order: no deadlocks), so two scorings retire each other's rows in turn
        # and each account keeps one current churn prediction.
        list(Company.objects.select_for_update().filter(id__in=company_ids).order_by("id").values_list("id"))
        Prediction.objects.filter(company_id__in=company_ids, contact__isnull=True, task=Task.CHURN,
                                  is_current=True).update(is_current=False)
        created = Prediction.objects.bulk_create(
            [
                Prediction(organization_id=organization_id, model_version=model_version, task=Task.CHURN,
                           company_id=company_id, probability=float(p), score=int(round(float(p) * 100)),
                           model_probability=float(p), top_factors=top, is_current=True)
                for company_id, p, top in zip(company_ids, probabilities, factors, strict=True)
            ],
            batch_size=1000,
        )
    if any(p.pk is None for p in created):
        current = Prediction.objects.filter(company_id__in=company_ids, task=Task.CHURN, is_current=True)
        return list(current.values_list("id", flat=True))
    return [p.pk for p in created]
