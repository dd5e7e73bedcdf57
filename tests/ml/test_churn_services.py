"""Churn end to end on a small generated demo CRM: train -> gate/promote -> score accounts; bad input; a
corrupted artifact; the activity reason."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from django.core.exceptions import ValidationError
from django.utils import timezone

from ml import churn_services, training_services
from ml.engine.activity_sequences import ActivitySequences
from ml.engine.checkpoints import CheckpointError, file_sha256
from ml.engine.churn_explain import ACTIVITY_FACTOR, churn_factors
from ml.engine.nets.activity_sequence import ChurnTransformer, ChurnTransformerConfig
from ml.engine.nets.ft_transformer import FTTransformerConfig
from ml.engine.schema import ColumnSpec, TablePreprocessor, TableSchema
from ml.models import ModelVersion, Prediction, Task, TrainingRun
from ml.registry import artifact_absolute_path, model_cache_clear
from ml.signals import predictions_updated
from salesai.core.models import Company
from salesai.demo.services import demo_seed
from tests.factories import ModelVersionFactory, OrganizationFactory

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 4, "text": False, "baseline_lightgbm_configs": 2}


@pytest.fixture
def demo_org(settings: Any, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    settings.ML_MIN_TRAINING_ROWS = 50
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False  # a 4-epoch net on a tiny CRM is about the plumbing
    today = timezone.now().date()
    seeded = demo_seed(password="churn-story-pw1", today=today, companies=150, contacts=900, deals=300, activities=3600)
    return seeded.organization


@pytest.mark.django_db
@pytest.mark.slow
def test_train_promote_and_score_accounts(demo_org, isolated_model_store, django_capture_on_commit_callbacks):
    version = training_services.model_train(organization_id=demo_org.id, task=Task.CHURN, params=TINY)
    assert (version.task, version.status, version.architecture) == (Task.CHURN, "champion", "churn_transformer")
    path = artifact_absolute_path(version.artifact_path)
    assert path.is_relative_to(isolated_model_store) and file_sha256(path) == version.artifact_sha256
    metrics = version.metrics
    assert {"roc_auc", "pr_auc", "brier", "ece", "reliability", "split_rows"} <= set(metrics)
    assert set(metrics["baselines"]) == {"lightgbm", "logistic"}
    for values in metrics["baselines"].values():
        assert values["rows"] == metrics["split_rows"]["test"]
    assert metrics["gate"]["promote"] is True
    assert not any("churn" in f["name"] for f in version.feature_schema["features"])

    announced = []

    def listener(**kwargs: Any) -> None:
        announced.append(kwargs["organization_id"])

    predictions_updated.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ids = churn_services.accounts_score(organization_id=demo_org.id)
    finally:
        predictions_updated.disconnect(listener)
    assert announced == [demo_org.id]  # committed churn risks go on to the CRM writeback
    predictions = list(Prediction.objects.filter(pk__in=ids))
    customers = Company.objects.filter(organization=demo_org, contacts__converted_at__isnull=False).distinct()
    current = [c for c in customers if not (c.properties or {}).get("churn_date")]
    assert len(predictions) == len(current) > 0
    for prediction in predictions:
        assert prediction.task == Task.CHURN and prediction.contact_id is None and prediction.company_id
        assert 0 <= prediction.probability <= 1 and prediction.score == round(prediction.probability * 100)
        assert all(f["direction"] in "+-" for f in prediction.top_factors)
    assert any(p.top_factors for p in predictions)
    # Rescoring keeps one current prediction per account, the rest become history.
    again = churn_services.accounts_score(organization_id=demo_org.id)
    assert Prediction.objects.filter(task=Task.CHURN, is_current=True, organization=demo_org).count() == len(again)
    assert Prediction.objects.filter(pk__in=ids, is_current=False).count() == len(ids)

    # A corrupted artifact is refused: nothing is scored with it.
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    model_cache_clear()
    with pytest.raises(CheckpointError):
        churn_services.accounts_score(organization_id=demo_org.id)
    assert Prediction.objects.filter(task=Task.CHURN, organization=demo_org).count() == len(ids) + len(again)


@pytest.mark.django_db
def test_one_class_is_a_clear_error_and_the_champion_stays(settings):
    settings.ML_MIN_TRAINING_ROWS = 1
    organization = OrganizationFactory(slug="no-churn")
    champion = ModelVersionFactory(organization=organization, task=Task.CHURN, status=ModelVersion.Status.CHAMPION)
    with pytest.raises(ValidationError, match="Not enough history to train: .* account snapshots with .* churns"):
        training_services.model_train(organization_id=organization.id, task=Task.CHURN, params={"text": False})
    run = training_services.training_run_create(
        organization_id=organization.id, task=Task.CHURN, params={"text": False}
    )
    assert training_services.training_run_execute(training_run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "churn" in run.error
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION
    assert ModelVersion.objects.filter(organization=organization, task=Task.CHURN).count() == 1
    with pytest.raises(churn_services.NoChurnModel):
        churn_services.accounts_score(organization_id=OrganizationFactory(slug="nothing").id)


def test_the_activity_that_moves_the_risk_is_named():
    torch.manual_seed(0)
    schema = TableSchema(columns=(ColumnSpec("tenure_days", "numeric", "Days as a customer"),))
    frame = pd.DataFrame({"tenure_days": [100.0, 200.0, 300.0]})
    preprocessor = TablePreprocessor(schema=schema, min_frequency=1).fit(frame)
    config = ChurnTransformerConfig(
        table=FTTransformerConfig(n_numeric=1, d_token=8, n_heads=2, n_layers=1),
        n_kinds=7,
        n_directions=5,
        sequence_length=4,
        text_dim=3,
    )
    net = ChurnTransformer(config).eval()
    with torch.no_grad():  # make the second text dimension ("switching") raise the risk a lot
        net.activities.text.weight.zero_()
        net.activities.text.weight[:, 1] = 3.0
    vectors = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    sequences = ActivitySequences(
        kind=np.array([[0, 0, 4, 4]] * 3),
        direction=np.ones((3, 4), dtype=np.int64),
        numeric=np.zeros((3, 4, 2), dtype=np.float32),
        text_index=np.array([[-1, -1, 0, 1]] * 3),
        vectors=vectors,
        texts=["Routine check-in.", "Said they are considering switching to Leadly."],
        text_kinds=["note", "note"],
    )
    factors = churn_factors(
        net=net,
        preprocessor=preprocessor,
        frame=frame,
        encoded=preprocessor.transform(frame),
        sequences=sequences,
        device=torch.device("cpu"),
    )
    activity = [f for f in factors[0] if f["feature"] == ACTIVITY_FACTOR]
    assert len(activity) == 1 and "considering switching" in activity[0]["label"]
    assert activity[0]["label"].startswith('Recent note: "')
