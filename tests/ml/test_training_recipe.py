"""The one training recipe on awkward tables: a clear error or a model that serves, never a crash, and an
interrupted run leaves no half-registered version."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from ml import training_recipe
from ml.engine.schema import TableSchema
from ml.models import ModelVersion, Task
from ml.serving import served_model_load
from ml.training_recipe import TrainingData, TrainingSpec, recipe_train, table_transformer_recipe, training_params_build
from tests.factories import OrganizationFactory

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 3, "batch_size": 64}


def awkward_table(rows: int, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A learnable signal in `score` and a 500-level `page`, beside an all-missing and a constant column."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=rows)
    page = rng.integers(0, 500, size=rows)
    labels = (score + 0.3 * (page % 3 == 0) + rng.normal(scale=0.8, size=rows) > 1.0).astype(int)
    frame = pd.DataFrame(
        {
            "score": score,
            "page": [f"page-{p}" for p in page],
            "empty": [None] * rows,
            "constant": ["same"] * rows,
            "channel": rng.choice(["web", "event", "referral"], size=rows),
        },
        index=pd.Index(np.arange(1000, 1000 + rows), name="contact"),
    )
    return frame, labels


def train(frame: pd.DataFrame, labels: np.ndarray, *, organization: Any = None) -> ModelVersion:
    organization = organization or OrganizationFactory()
    schema = TableSchema.infer(frame)
    params = training_params_build(dict(TINY))
    data = TrainingData(frame=frame, labels=labels, schema=schema, baseline_schema=schema)
    spec = TrainingSpec(
        task=Task.LEAD_CONVERSION,
        organization=organization,
        params=params,
        lightgbm_configs=2,
        artifact_relative=lambda version: f"{organization.slug}/recipe/v{version}.pt",
        extra_metrics={},
    )
    return recipe_train(
        spec=spec, data=data, transformer=table_transformer_recipe(params=params, feature_schema_extra={})
    )


@pytest.fixture(autouse=True)
def small_minimum(settings: Any) -> None:
    settings.ML_MIN_TRAINING_ROWS = 15


@pytest.mark.django_db
def test_missing_constant_and_500_level_columns_train_and_serve():
    frame, labels = awkward_table(1500)
    version = train(frame, labels)
    assert version.status == ModelVersion.Status.CHAMPION and version.metrics["roc_auc"] > 0.7
    served = served_model_load(model_version=version, device="cpu")
    probabilities, factors = served.score(frame.iloc[:50])
    assert probabilities.shape == (50,) and np.all((probabilities > 0) & (probabilities < 1))
    assert all(factors)


@pytest.mark.django_db
def test_one_class_is_a_clear_error_and_registers_nothing():
    frame, labels = awkward_table(300)
    with pytest.raises(ValidationError, match="Not enough history to train: 300 rows with 0 conversions"):
        train(frame, np.zeros(300, dtype=int))
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_twenty_rows_is_a_clear_error():
    frame, labels = awkward_table(20, seed=3)
    labels[:6] = 1  # enough positives for the count check: the split itself is what cannot work
    with pytest.raises(ValidationError) as error:
        train(frame, labels)
    assert "training_data" in error.value.message_dict
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_only_empty_columns_is_a_clear_error():
    frame, labels = awkward_table(300)
    with pytest.raises(ValidationError, match="Every feature column is empty"):
        train(frame[["empty"]], labels)


@pytest.mark.django_db
def test_an_interrupted_registration_leaves_no_version(monkeypatch):
    frame, labels = awkward_table(600)

    def broken_promote(**kwargs):
        raise RuntimeError("worker killed while promoting")

    monkeypatch.setattr("ml.model_versions.model_version_promote", broken_promote)
    with pytest.raises(RuntimeError):
        train(frame, labels)
    assert not ModelVersion.objects.exists()
    monkeypatch.setattr(training_recipe, "baselines_fit", lambda **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        train(frame, labels)
    assert not ModelVersion.objects.exists()
