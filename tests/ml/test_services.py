import json
from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from ml import feedback_services, model_versions, scoring_services, tasks, training_services
from ml.beat import NIGHTLY_TASK
from ml.engine.checkpoints import file_sha256
from ml.features.lead import BASE_COLUMNS
from ml.models import Feedback, ModelVersion, PendingScoring, Prediction, TrainingRun
from ml.registry import artifact_absolute_path
from salesai.core.models import Contact
from tests.factories import (
    ContactFactory,
    ModelVersionFactory,
    OrganizationFactory,
    PredictionFactory,
    UserFactory,
)
from tests.ml.crm_data import synthetic_org_create

pytestmark = pytest.mark.django_db

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 15, "batch_size": 64, "test_fraction": 0.3}


@pytest.fixture
def trained_org(settings: Any):
    settings.ML_MIN_TRAINING_ROWS = 100
    # On this small synthetic set the TINY Transformer trails logistic regression, so the baseline check
    # would keep it a candidate (tested in tests/ml/test_gate.py); these tests are about train -> score.
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    organization = synthetic_org_create(contacts=320, seed=3)
    version = training_services.model_train(organization_id=organization.id, params=TINY)
    return organization, version


def test_train_then_score_end_to_end(trained_org, isolated_model_store):
    organization, version = trained_org
    # Registered, promoted (first version of the task), artifact on disk with the recorded sha256.
    assert (version.version, version.status) == (1, ModelVersion.Status.CHAMPION)
    assert version.architecture == "ft_transformer"
    assert version.promoted_at is not None
    path = artifact_absolute_path(version.artifact_path)
    assert path.is_relative_to(isolated_model_store) and path.name == "v1.pt"
    assert file_sha256(path) == version.artifact_sha256
    # A real signal is learned, measured on held-out contacts.
    assert version.metrics["roc_auc"] > 0.7, version.metrics
    assert {"pr_auc", "brier", "log_loss", "ece", "reliability"} <= set(version.metrics)
    # Both baselines were trained on the same split and scored on the same held-out rows, side by side.
    baselines = version.metrics["baselines"]
    assert set(baselines) == {"lightgbm", "logistic"}
    for name, metrics in baselines.items():
        assert {"roc_auc", "brier", "ece", "train_seconds", "params"} <= set(metrics), name
        assert metrics["rows"] == version.metrics["rows"] == version.metrics["split_rows"]["test"]
        assert 0.5 < metrics["roc_auc"] <= 1.0
    gate = version.metrics["gate"]
    assert gate["promote"] is True and gate["family"] == version.metrics["family"] == "transformer"
    # The family choice is a paired comparison on the same held-out rows, each with its DeLong interval.
    compared = {c["b"]: c for c in gate["family_choice"]["comparisons"]}
    assert set(compared) == set(baselines)
    for name, comparison in compared.items():
        assert comparison["rows"] == version.metrics["split_rows"]["test"]
        assert comparison["low"] <= comparison["difference"] <= comparison["high"]
        assert comparison["auc_b"] == pytest.approx(baselines[name]["roc_auc"], abs=1e-9)
    assert version.trained_rows == sum(version.metrics["split_rows"][k] for k in ("train", "valid", "test"))
    assert "lifecycle_stage" in version.feature_schema["excluded_fields"]
    feature_names = {f["name"] for f in version.feature_schema["features"]}
    assert {c.name for c in BASE_COLUMNS} <= feature_names

    open_leads = Contact.objects.filter(organization=organization, converted_at__isnull=True, deleted_at__isnull=True)
    result = scoring_services.contacts_score(organization_id=organization.id)
    assert result.scored == open_leads.count() > 0
    assert result.model_version_id == version.id
    assert sum(result.score_histogram.values()) == result.scored
    predictions = list(Prediction.objects.filter(organization=organization))
    assert len(predictions) == result.scored and all(p.is_current for p in predictions)
    labels = {f["name"]: f["label"] for f in version.feature_schema["features"]}
    explained = 0
    for prediction in predictions:
        assert 0.0 <= prediction.probability <= 1.0
        assert prediction.score == round(prediction.probability * 100)
        positive = [f for f in prediction.top_factors if f["direction"] == "+"]
        negative = [f for f in prediction.top_factors if f["direction"] == "-"]
        assert len(positive) <= 3 and len(negative) <= 3
        for factor in prediction.top_factors:
            if factor["feature"] == "text":  # activity text: named by its sentence that moved the score (if any)
                assert factor["value"] == "" or factor["label"].endswith(f'"{factor["value"]}"')
                continue
            assert factor["feature"] in feature_names  # an original field, not a token
            assert factor["label"] == f"{labels[factor['feature']]} = {factor['value']}"
            assert (factor["weight"] > 0) == (factor["direction"] == "+")
        explained += bool(prediction.top_factors)
    assert explained > len(predictions) / 2

    # Rescoring keeps history: the old rows stay, exactly one current row per contact.
    first_ids = set(result.prediction_ids)
    again = scoring_services.contacts_score(organization_id=organization.id)
    assert again.scored == result.scored and first_ids.isdisjoint(again.prediction_ids)
    assert Prediction.objects.filter(pk__in=first_ids, is_current=True).count() == 0
    current_rows = Prediction.objects.filter(organization=organization, is_current=True)
    current = Counter(current_rows.values_list("contact_id", flat=True))
    assert set(current.values()) == {1} and len(current) == result.scored
    assert Prediction.objects.filter(organization=organization).count() == 2 * result.scored

    # Scoring chosen contacts touches only those, and never a converted one.
    open_lead = Contact.objects.filter(organization=organization, converted_at__isnull=True).first()
    converted = Contact.objects.filter(organization=organization, converted_at__isnull=False).first()
    chosen = scoring_services.contacts_score(organization_id=organization.id, contact_ids=[open_lead.pk, converted.pk])
    assert chosen.scored == 1
    assert Prediction.objects.get(pk=chosen.prediction_ids[0]).contact_id == open_lead.pk


def test_a_second_training_is_a_candidate_and_rollback_restores_the_first(trained_org):
    organization, first = trained_org
    second = training_services.model_train(organization_id=organization.id, params={**TINY, "epochs": 2})
    assert (second.version, second.status) == (2, ModelVersion.Status.CANDIDATE)
    assert second.artifact_path.endswith("/v2.pt")
    result = scoring_services.contacts_score(organization_id=organization.id, model_version_id=second.id)
    assert Prediction.objects.get(pk=result.prediction_ids[0]).model_version_id == second.id
    # The gate kept it a candidate, and said why (a 2-epoch model does not beat the 15-epoch champion).
    assert second.metrics["gate"]["promote"] is False
    assert second.metrics["gate"]["champion_model_version_id"] == first.id
    assert any("champion" in reason for reason in second.metrics["gate"]["reasons"])
    model_versions.model_version_promote(model_version_id=second.id)
    rolled_back = model_versions.model_version_rollback(organization_id=organization.id, task=first.task)
    assert rolled_back.id == first.id
    statuses = dict(ModelVersion.objects.filter(organization=organization).values_list("version", "status"))
    assert statuses == {1: ModelVersion.Status.CHAMPION, 2: ModelVersion.Status.RETIRED}


def test_the_first_champion_puts_the_organization_on_the_nightly_retraining_schedule(trained_org):
    organization, _ = trained_org
    schedule = PeriodicTask.objects.get(task=NIGHTLY_TASK)
    assert json.loads(schedule.args) == [organization.id] and schedule.enabled


def test_promote_retires_the_old_champion_atomically():
    organization = OrganizationFactory()
    old = ModelVersionFactory(organization=organization, version=1, status=ModelVersion.Status.CHAMPION)
    new = ModelVersionFactory(organization=organization, version=2)
    other_org = ModelVersionFactory(version=1, status=ModelVersion.Status.CHAMPION)
    promoted = model_versions.model_version_promote(model_version_id=new.id)
    assert promoted.status == ModelVersion.Status.CHAMPION and promoted.promoted_at is not None
    old.refresh_from_db()
    other_org.refresh_from_db()
    assert old.status == ModelVersion.Status.RETIRED
    assert other_org.status == ModelVersion.Status.CHAMPION  # another tenant's champion is untouched
    rolled_back = model_versions.model_version_promote(model_version_id=old.id)
    new.refresh_from_db()
    assert rolled_back.status == ModelVersion.Status.CHAMPION and new.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.filter(organization=organization, status="champion").count() == 1


def test_training_without_enough_history_is_a_validation_error():
    organization = OrganizationFactory()
    ContactFactory.create_batch(3, organization=organization)
    with pytest.raises(ValidationError) as error:
        training_services.model_train(organization_id=organization.id)
    assert "training_data" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        training_services.model_train(organization_id=organization.id, params={"epoks": 3})
    assert "params" in error.value.message_dict


def test_scoring_without_a_champion_is_refused_and_the_task_skips():
    organization = OrganizationFactory()
    ContactFactory(organization=organization)
    with pytest.raises(scoring_services.NoChampionModel):
        scoring_services.contacts_score(organization_id=organization.id)
    assert tasks.score_contacts(organization.id) == {
        "organization_id": organization.id,
        "scored": 0,
        "skipped": "no champion model",
    }
    foreign = ModelVersionFactory()
    with pytest.raises(ValidationError) as error:
        scoring_services.contacts_score(organization_id=organization.id, model_version_id=foreign.id)
    assert "model_version_id" in error.value.message_dict


# --- feedback ---------------------------------------------------------------------------------------------
def test_feedback_is_recorded_for_the_predictions_organization():
    prediction = PredictionFactory()
    user = UserFactory()
    agree = feedback_services.feedback_create(
        prediction_id=prediction.id, user_id=user.id, verdict="agree", reason=" ok "
    )
    override = feedback_services.feedback_create(
        prediction_id=prediction.id, user_id=user.id, verdict="override", override_value=0.85, reason="talked to them"
    )
    assert (agree.organization_id, agree.reason, agree.override_value) == (prediction.organization_id, "ok", None)
    assert override.override_value == 0.85
    assert Feedback.objects.filter(prediction=prediction).count() == 2


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"verdict": "override"}, "override_value"),
        ({"verdict": "override", "override_value": 1.5}, "override_value"),
        ({"verdict": "override", "override_value": -0.1}, "override_value"),
        ({"verdict": "override", "override_value": float("nan")}, "override_value"),
        ({"verdict": "agree", "override_value": 0.5}, "override_value"),
        ({"verdict": "maybe"}, "verdict"),
    ],
)
def test_feedback_validation(arguments, field):
    prediction = PredictionFactory()
    with pytest.raises(ValidationError) as error:
        feedback_services.feedback_create(prediction_id=prediction.id, user_id=UserFactory().id, **arguments)
    assert field in error.value.message_dict
    assert Feedback.objects.count() == 0


def test_feedback_on_a_missing_prediction():
    with pytest.raises(ValidationError) as error:
        feedback_services.feedback_create(prediction_id=999_999, user_id=UserFactory().id, verdict="agree")
    assert "prediction_id" in error.value.message_dict


# --- queueing ---------------------------------------------------------------------------------------------
def test_training_run_start_enqueues_after_commit_and_a_finished_run_is_not_rerun(
    monkeypatch, django_capture_on_commit_callbacks, settings
):
    queued: list[tuple] = []
    monkeypatch.setattr(tasks.train_model, "delay", lambda *args: queued.append(args))
    organization = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        run = training_services.training_run_start(organization_id=organization.id, params={"epochs": 3})
        assert queued == []  # nothing leaves before the transaction commits
    assert queued == [(run.pk,)] and run.status == TrainingRun.Status.QUEUED

    # No data: the run fails with a readable error, and running it again does nothing.
    assert tasks.train_model(run.pk) == {"training_run_id": run.pk, "model_version_id": None}
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "Not enough history" in run.error
    finished_at = run.finished_at
    tasks.train_model(run.pk)
    run.refresh_from_db()
    assert run.finished_at == finished_at

    with pytest.raises(ValidationError):
        training_services.training_run_start(organization_id=organization.id, params={"learning_rate": -1})


def test_a_successful_training_run_records_its_log_and_rescoring_is_enqueued(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False  # see trained_org
    organization = synthetic_org_create(contacts=200, seed=5, slug="runs")
    scored: list[tuple] = []
    monkeypatch.setattr(tasks.score_contacts, "apply_async", lambda **kwargs: scored.append(kwargs["args"]))
    run = training_services.training_run_create(organization_id=organization.id, params={**TINY, "epochs": 2})
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.train_model(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.started_at and run.finished_at
    epochs = [entry for entry in run.log if "epoch" in entry]
    assert len(epochs) == 2 and epochs[0]["epoch"] == 1
    # The last log entry is the gate's decision with the baselines it weighed.
    gate = run.log[-1]["gate"]
    assert gate["promote"] is True and any(r.startswith("no current champion") for r in gate["reasons"])
    assert set(run.log[-1]["families"]) == {"transformer", "lightgbm", "logistic"}
    version = ModelVersion.objects.get(pk=summary["model_version_id"])
    assert version.training_run_id == run.pk and version.status == ModelVersion.Status.CHAMPION
    assert scored == [(organization.id,)]  # a new champion queued a (debounced) rescoring ...
    pending = PendingScoring.objects.filter(organization=organization)
    assert list(pending.values_list("contact_id", flat=True)) == [None]  # ... of every open lead


def test_scoring_enqueue_waits_for_commit(monkeypatch, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    sent: list[dict] = []
    monkeypatch.setattr(tasks.score_contacts, "apply_async", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        scoring_services.scoring_enqueue(organization_id=organization.id, contact_ids=[3, 1, 3])
        # nothing changed: nothing sent
        scoring_services.scoring_enqueue(organization_id=organization.id, contact_ids=[])
        assert sent == []
    assert [(call["args"], call["kwargs"]) for call in sent] == [((organization.id,), {"pending": True})]
    pending = PendingScoring.objects.filter(organization=organization).order_by("contact_id")
    assert list(pending.values_list("contact_id", flat=True)) == [1, 3]
    # More in tests/ml/test_scoring_debounce.py.


# --- commands ---------------------------------------------------------------------------------------------
def test_management_commands_train_and_score(trained_org, capsys):
    organization, _ = trained_org
    call_command("ml_train", "--org", organization.slug, "--epochs", "1")
    out = capsys.readouterr().out
    version = ModelVersion.objects.get(organization=organization, version=2)
    family = version.metrics["family"]
    assert f"{organization.slug} lead_conversion v2 ({version.status}): {family} serves" in out and "roc_auc" in out
    # Every family's line, the served one marked, and the gate's decision in words.
    assert all(name in out for name in ("transformer", "lightgbm", "logistic")) and "<- serves" in out
    assert "gate: " in out and version.metrics["gate"]["reasons"][-1] in out
    call_command("ml_score", "--org", organization.slug)
    out = capsys.readouterr().out
    assert "scored" in out and "90-100" in out


def test_a_scoring_run_announces_the_scored_contacts_after_commit(trained_org, django_capture_on_commit_callbacks):
    from ml.signals import predictions_updated

    organization, _ = trained_org
    received: list[dict] = []

    def receiver(**kwargs):
        received.append(kwargs)

    predictions_updated.connect(receiver, dispatch_uid="test-receiver")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = scoring_services.contacts_score(organization_id=organization.id)
    finally:
        predictions_updated.disconnect(dispatch_uid="test-receiver")
    scored = sorted(Prediction.objects.filter(pk__in=result.prediction_ids).values_list("contact_id", flat=True))
    assert len(received) == 1 and received[0]["organization_id"] == organization.id
    assert received[0]["contact_ids"] == scored and len(scored) == result.scored
