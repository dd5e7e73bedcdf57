"""The promotion gate (pure), the gate inside training, rollback, bad training data and corrupted artifacts."""

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from ml import services
from ml.beat import NIGHTLY_TASK
from ml.gate import gate_decide
from ml.models import ModelVersion, Prediction, TrainingRun
from ml.registry import artifact_absolute_path, model_cache_clear
from salesai.core.models import Contact
from tests.factories import ModelVersionFactory, OrganizationFactory
from tests.ml.crm_data import synthetic_org_create

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 15, "batch_size": 64, "test_fraction": 0.3,
        "baseline_lightgbm_configs": 3}
BASELINES = {"lightgbm": {"roc_auc": 0.80, "brier": 0.12}, "logistic": {"roc_auc": 0.78, "brier": 0.13}}


def candidate(roc_auc: float, brier: float = 0.12, ece: float = 0.03, baselines: dict | None = None) -> dict:
    return {"roc_auc": roc_auc, "brier": brier, "ece": ece, "baselines": BASELINES if baselines is None else baselines}


# --- the pure rule -----------------------------------------------------------------------------------------
def test_a_worse_candidate_is_refused():
    decision = gate_decide(candidate=candidate(0.82), champion={"roc_auc": 0.85, "brier": 0.10}, margin=0.005)
    assert not decision.promote
    assert "worse than the champion's 0.8500" in decision.reasons[-1]


def test_a_clearly_better_candidate_is_promoted():
    decision = gate_decide(candidate=candidate(0.86), champion={"roc_auc": 0.85, "brier": 0.10}, margin=0.005)
    assert decision.promote and decision.best_baseline == "lightgbm"


@pytest.mark.parametrize(
    ("brier", "ece", "promote"),
    [(0.09, 0.02, True), (0.11, 0.02, False), (0.09, 0.05, False)],
    ids=["better-calibrated", "higher-brier", "higher-ece"],
)
def test_a_tie_within_the_margin_needs_better_calibration(brier, ece, promote):
    champion = {"roc_auc": 0.850, "brier": 0.10, "ece": 0.03}
    # +0.003 is a "win" smaller than the margin: a tie, broken by calibration only.
    decision = gate_decide(candidate=candidate(0.853, brier=brier, ece=ece), champion=champion, margin=0.005)
    assert decision.promote is promote, decision.reasons


def test_trailing_the_best_baseline_blocks_even_the_first_model_unless_disabled():
    refused = gate_decide(candidate=candidate(0.79), champion=None, margin=0.005)
    assert not refused.promote and "below the best baseline (lightgbm 0.8000)" in refused.reasons[0]
    within = gate_decide(candidate=candidate(0.796), champion=None, margin=0.005)
    assert within.promote and within.reasons[-1] == "no current champion"
    allowed = gate_decide(candidate=candidate(0.79), champion=None, margin=0.005, require_beats_baseline=False)
    assert allowed.promote and "baseline check disabled" in allowed.reasons[0]


def test_missing_numbers_never_promote_by_accident():
    assert not gate_decide(candidate={"roc_auc": float("nan")}, champion=None, margin=0.005).promote
    assert not gate_decide(candidate=candidate(0.9, baselines={}), champion=None, margin=0.005).promote
    # A failed baseline (recorded with its error) does not count; the other one still has to be matched.
    one_failed = {"lightgbm": {"error": "one class"}, "logistic": {"roc_auc": 0.95}}
    assert not gate_decide(candidate=candidate(0.9, baselines=one_failed), champion=None, margin=0.005).promote


# --- the gate inside training ------------------------------------------------------------------------------
@pytest.fixture
def small_org(settings: Any):
    settings.ML_MIN_TRAINING_ROWS = 100
    return synthetic_org_create(contacts=240, seed=3, slug="gated")


@pytest.mark.django_db
def test_a_first_model_that_trails_the_baselines_stays_a_candidate(small_org, settings):
    """On this synthetic set the tiny Transformer trails logistic regression: no champion, reasons stored."""
    run = services.training_run_create(organization_id=small_org.id, params=TINY)
    version = services.training_run_execute(training_run_id=run.pk)
    assert version.status == ModelVersion.Status.CANDIDATE
    gate = version.metrics["gate"]
    assert gate["promote"] is False and gate["fallback"].startswith("baseline better")
    assert "below the best baseline" in gate["reasons"][0]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.log[-1]["gate"] == gate
    assert not ModelVersion.objects.filter(organization=small_org, status="champion").exists()
    with pytest.raises(services.NoChampionModel):
        services.contacts_score(organization_id=small_org.id)
    # It is still retrained nightly, so a later candidate can pass.
    assert PeriodicTask.objects.filter(task=NIGHTLY_TASK).exists()


@pytest.mark.django_db
def test_training_keeps_a_stronger_champion(small_org, settings):
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    champion = ModelVersionFactory(organization=small_org, version=1, status=ModelVersion.Status.CHAMPION,
                                   metrics={"roc_auc": 0.999, "brier": 0.001, "ece": 0.0})
    version = services.model_train(organization_id=small_org.id, params=TINY)
    assert (version.version, version.status) == (2, ModelVersion.Status.CANDIDATE)
    assert version.metrics["gate"]["champion_model_version_id"] == champion.id
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION


# --- bad training data -------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("min_rows", "clear_conversions", "message"),
    [(100, True, "with 0 conversions"), (100_000, False, "need 100000 rows")],
    ids=["one-class", "too-few-rows"],
)
def test_bad_training_data_fails_the_run_and_leaves_the_champion(settings, min_rows, clear_conversions, message):
    organization = synthetic_org_create(contacts=150, seed=4, slug="bad-data")
    settings.ML_MIN_TRAINING_ROWS = min_rows
    if clear_conversions:
        Contact.objects.filter(organization=organization).update(converted_at=None)
    champion = ModelVersionFactory(organization=organization, version=1, status=ModelVersion.Status.CHAMPION)
    run = services.training_run_create(organization_id=organization.id, params=TINY)
    assert services.training_run_execute(training_run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and run.finished_at is not None
    assert run.error.startswith("training_data: Not enough history to train") and message in run.error, run.error
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION
    assert list(ModelVersion.objects.filter(organization=organization)) == [champion]


@pytest.mark.django_db
def test_baseline_search_size_is_validated():
    organization = OrganizationFactory()
    with pytest.raises(ValidationError) as error:
        services.training_run_create(organization_id=organization.id, params={"baseline_lightgbm_configs": 0})
    assert "params" in error.value.message_dict
    run = services.training_run_create(organization_id=organization.id, params={"baseline_lightgbm_configs": 4})
    assert run.params == {"baseline_lightgbm_configs": 4}


# --- rollback ----------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_rollback_restores_the_previous_champion_and_twice_undoes_itself():
    organization = OrganizationFactory()
    first = ModelVersionFactory(organization=organization, version=1)
    second = ModelVersionFactory(organization=organization, version=2)
    never_promoted = ModelVersionFactory(organization=organization, version=3)
    with pytest.raises(ValidationError):
        services.model_version_rollback(organization_id=organization.id, task=first.task)
    services.model_version_promote(model_version_id=first.id)
    services.model_version_promote(model_version_id=second.id)

    restored = services.model_version_rollback(organization_id=organization.id, task=first.task)
    assert restored.id == first.id and restored.status == ModelVersion.Status.CHAMPION
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.RETIRED
    again = services.model_version_rollback(organization_id=organization.id, task=first.task)
    assert again.id == second.id
    never_promoted.refresh_from_db()
    assert never_promoted.status == ModelVersion.Status.CANDIDATE  # a candidate is not a "previous champion"


# --- corrupted artifacts -----------------------------------------------------------------------------------
@pytest.fixture
def two_champions(small_org, settings):
    """v1 was champion, v2 (same data, promoted by hand) is champion now; both artifacts are real."""
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    params = {**TINY, "epochs": 3}
    first = services.model_train(organization_id=small_org.id, params=params)
    second = services.model_train(organization_id=small_org.id, params={**params, "seed": 1})
    services.model_version_promote(model_version_id=second.id)
    return small_org, first, second


def corrupt(version: ModelVersion) -> Path:
    path = artifact_absolute_path(version.artifact_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    model_cache_clear()
    return path


@pytest.mark.django_db
def test_a_corrupted_champion_is_refused_and_the_previous_champion_serves(two_champions):
    organization, first, second = two_champions
    corrupt(second)
    result = services.contacts_score(organization_id=organization.id)
    assert result.model_version_id == first.id and result.fallback_from_model_version_id == second.id
    assert result.scored > 0
    assert set(Prediction.objects.filter(organization=organization).values_list("model_version", flat=True)) == {
        first.id
    }
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.CHAMPION  # statuses are an operator's decision
    with pytest.raises(services.ModelArtifactUnavailable):  # asked for by id: no substitute
        services.contacts_score(organization_id=organization.id, model_version_id=second.id)


@pytest.mark.django_db
def test_with_no_intact_model_scoring_fails_without_writing_predictions(two_champions):
    organization, first, second = two_champions
    corrupt(second)
    artifact_absolute_path(first.artifact_path).unlink()
    with pytest.raises(services.ModelArtifactUnavailable) as error:
        services.contacts_score(organization_id=organization.id)
    assert "no former champion loads" in " ".join(error.value.messages)
    assert not Prediction.objects.filter(organization=organization).exists()
