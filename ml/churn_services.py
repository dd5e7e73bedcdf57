"""Write-side churn services: train and register the churn model, score customer accounts.

The Django side of churn, as ml.training_services and ml.scoring_services are for leads: settings in, frames
from ml.features.churn, the pure training code (ml.engine.churn_training) and the shared metrics, baselines,
gate and registry, results stored as
ModelVersion (task "churn") and Prediction rows with `company` set. `ml.training_services.model_train(task="churn")`
dispatches here.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml.engine.activity_sequences import SEQUENCE_LENGTH_DEFAULT
from ml.engine.baseline_serving import BASELINE_FAMILIES
from ml.features.churn import (
    EXCLUDED_FIELDS,
    HORIZON_DAYS_DEFAULT,
    churn_property_keys,
    churn_schema,
    churn_scoring_frame,
    churn_training_frame,
)
from ml.models import ModelVersion, Prediction, Task
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
    "batch_size": 128,
    "epochs": 40,
    "patience": 6,
    "valid_fraction": 0.2,
    "test_fraction": 0.2,
    "d_token": 16,
    "n_layers": 1,
    "n_heads": 4,
    "ffn_dropout": 0.3,
    "attention_dropout": 0.2,
    "residual_dropout": 0.1,
    "weight_decay": 0.01,
}


class NoChurnModel(ValidationError):
    """Churn scoring was asked for but the organisation has no churn champion yet."""


# --- training -----------------------------------------------------------------------------------------------
def churn_model_train(
    *, organization_id: int, training_run_id: int | None = None, params: dict[str, Any] | None = None
) -> ModelVersion:
    """Train the churn Transformer beside a tuned LightGBM and a logistic regression through the one training
    recipe (ml.training_recipe); the gate picks the family that serves. Too little history raises
    ValidationError; nothing is registered."""
    from ml.engine.inference import torch_threads_set
    from ml.registry import artifact_relative_path
    from ml.training_recipe import (
        TrainingData,
        TrainingSpec,
        TransformerRecipe,
        recipe_train,
        table_transformer_recipe,
        training_params_build,
    )

    organization = Organization.objects.get(pk=organization_id)
    params = dict(params or {})
    horizon_days = int(params.pop("horizon_days", HORIZON_DAYS_DEFAULT))
    lightgbm_configs = int(params.pop("baseline_lightgbm_configs", BASELINE_LIGHTGBM_CONFIGS))
    training_params = training_params_build(params, defaults=TRAINING_DEFAULTS)
    built = churn_training_frame(organization_id=organization.id, horizon_days=horizon_days, text=training_params.text)
    frame, labels = built.frame, np.asarray(built.labels).astype(int)
    torch_threads_set(settings.ML_TORCH_THREADS)
    schema = churn_schema(frame) if len(frame) else None
    data = TrainingData(
        frame=frame,
        labels=labels,
        schema=schema,
        baseline_schema=schema.without_text() if schema is not None else None,
        what="account snapshots",
        positives_name="churns",
        drift_reference=False,
    )
    table = table_transformer_recipe(params=training_params, feature_schema_extra={})

    def fit(*, frame, labels, split, weights, schema):
        from ml.engine.churn_training import train_churn_model

        return train_churn_model(
            frame=frame, sequences=built.sequences, labels=labels, schema=schema, params=training_params, split=split
        )

    def probabilities(trained, frame, rows):
        from ml.engine.churn_training import churn_logits

        logits = churn_logits(
            trained.net,
            trained.preprocessor.transform(frame.iloc[rows]),
            built.sequences.take(rows),
            device=trained.device,
            mixed_precision=False,
        )
        return trained.calibrator.transform(logits)

    def champion_probabilities(champion, frame, rows):
        if champion.architecture in BASELINE_FAMILIES:
            return table.champion_probabilities(champion, frame, rows)
        model = _churn_net_load(champion)
        if model.net.config.sequence_length != built.sequences.length:
            raise ValueError("the champion reads activity sequences of another length")
        from ml.engine.churn_training import churn_logits

        logits = churn_logits(
            model.net,
            model.encode(frame.iloc[rows]),
            built.sequences.take(rows),
            device=model.device,
            mixed_precision=False,
        )
        return model.calibrator.transform(logits)

    def feature_schema(trained):
        return {
            "preprocessor": trained.preprocessor.to_dict(),
            "features": [
                {"name": c.name, "kind": c.kind, "label": c.display_label} for c in trained.preprocessor.schema.columns
            ],
            "sequence": {"length": trained.config.sequence_length, "text_dim": trained.config.text_dim},
            "excluded_fields": EXCLUDED_FIELDS,
            "churn_date_property": settings.ML_CHURN_DATE_PROPERTY,
            "horizon_days": horizon_days,
        }

    spec = TrainingSpec(
        task=Task.CHURN,
        organization=organization,
        params=training_params,
        lightgbm_configs=lightgbm_configs,
        artifact_relative=lambda version: artifact_relative_path(
            organization_slug=organization.slug, task=Task.CHURN, version=version
        ),
        extra_metrics={"horizon_days": horizon_days, "rows_total": len(frame), "positives": int(labels.sum())},
        training_run_id=training_run_id,
        min_positives=MIN_POSITIVES,
    )
    return recipe_train(
        spec=spec,
        data=data,
        transformer=TransformerRecipe(
            fit=fit,
            probabilities=probabilities,
            champion_probabilities=champion_probabilities,
            feature_schema=feature_schema,
        ),
    )


def _churn_net_load(version: ModelVersion) -> Any:
    import ml.engine.churn_training  # noqa: F401  registers the churn architecture with ml.engine.checkpoints
    from ml.registry import model_load_cached

    return model_load_cached(
        model_version_id=version.id,
        artifact_path=version.artifact_path,
        sha256=version.artifact_sha256,
        device=settings.ML_DEVICE,
    )


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
    from ml.engine.inference import torch_threads_set

    version = _scoring_version(organization_id=organization_id, model_version_id=model_version_id)
    torch_threads_set(settings.ML_TORCH_THREADS)
    baseline = version.architecture in BASELINE_FAMILIES
    if baseline:
        from ml.serving import served_model_load

        served = served_model_load(model_version=version, device=settings.ML_DEVICE)
        property_keys, sequence_length, text = churn_property_keys(served.schema), SEQUENCE_LENGTH_DEFAULT, False
    else:
        model = _churn_net_load(version)
        property_keys = churn_property_keys(model.preprocessor.schema)
        sequence_length, text = model.net.config.sequence_length, model.net.config.text_dim > 0
    as_of = timezone.now()
    ids = None if company_ids is None else sorted({int(i) for i in company_ids})
    chunks = [None] if ids is None else [ids[i : i + SCORING_CHUNK] for i in range(0, len(ids), SCORING_CHUNK)]
    prediction_ids: list[int] = []
    for chunk in chunks:
        built = churn_scoring_frame(
            organization_id=organization_id,
            as_of=as_of,
            company_ids=chunk,
            property_keys=property_keys,
            sequence_length=sequence_length,
            text=text,
        )
        if not len(built):
            continue
        if baseline:
            probabilities, factors = served.score(built.frame, batch_size=settings.ML_SCORING_BATCH_SIZE)
        else:
            probabilities, factors = _churn_transformer_score(model=model, built=built)
        prediction_ids += _predictions_write(
            organization_id=organization_id,
            model_version=version,
            company_ids=[int(i) for i in built.frame.index],
            probabilities=probabilities,
            factors=factors,
        )
    if prediction_ids:
        # Listeners (CRM writeback of churn risk) act only on committed scores; no contact changed here.
        transaction.on_commit(
            lambda: predictions_updated.send_robust(sender=Prediction, organization_id=organization_id, contact_ids=[])
        )
    return prediction_ids


def _churn_transformer_score(*, model: Any, built: Any) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """The churn Transformer's calibrated risks and reasons (table fields + the activity that moved it most)."""
    from ml.engine.churn_explain import churn_factors
    from ml.engine.churn_training import churn_logits

    encoded = model.encode(built.frame)
    logits = churn_logits(
        model.net, encoded, built.sequences, device=model.device, batch_size=settings.ML_SCORING_BATCH_SIZE
    )
    factors = churn_factors(
        net=model.net,
        preprocessor=model.preprocessor,
        frame=built.frame,
        encoded=encoded,
        sequences=built.sequences,
        device=model.device,
        batch_size=settings.ML_SCORING_BATCH_SIZE,
    )
    return model.calibrator.transform(logits), factors


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


def _predictions_write(
    *,
    organization_id: int,
    model_version: ModelVersion,
    company_ids: list[int],
    probabilities: np.ndarray,
    factors: list[list[dict[str, Any]]],
) -> list[int]:
    with transaction.atomic():
        # Lock the accounts (id order: no deadlocks), so two scorings retire each other's rows in turn
        # and each account keeps one current churn prediction.
        list(Company.objects.select_for_update().filter(id__in=company_ids).order_by("id").values_list("id"))
        Prediction.objects.filter(
            company_id__in=company_ids, contact__isnull=True, task=Task.CHURN, is_current=True
        ).update(is_current=False)
        created = Prediction.objects.bulk_create(
            [
                Prediction(
                    organization_id=organization_id,
                    model_version=model_version,
                    task=Task.CHURN,
                    company_id=company_id,
                    probability=float(p),
                    score=int(round(float(p) * 100)),
                    model_probability=float(p),
                    top_factors=top,
                    is_current=True,
                )
                for company_id, p, top in zip(company_ids, probabilities, factors, strict=True)
            ],
            batch_size=1000,
        )
    if any(p.pk is None for p in created):
        current = Prediction.objects.filter(company_id__in=company_ids, task=Task.CHURN, is_current=True)
        return list(current.values_list("id", flat=True))
    return [p.pk for p in created]
