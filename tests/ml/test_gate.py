"""The promotion gate (pure), the gate inside training, rollback, bad training data and corrupted artifacts."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask
from sklearn.metrics import roc_auc_score

from ml import model_versions, scoring_services, training_services
from ml.beat import NIGHTLY_TASK
from ml.engine.gate import ChampionEvidence, FamilyChoice, auc_difference, champion_decide, family_choose
from ml.models import ModelVersion, Prediction, TrainingRun
from ml.registry import artifact_absolute_path, model_cache_clear
from salesai.core.models import Contact
from tests.factories import ModelVersionFactory, OrganizationFactory
from tests.ml.crm_data import synthetic_org_create

TINY = {
    "d_token": 16,
    "n_heads": 2,
    "n_layers": 1,
    "epochs": 15,
    "batch_size": 64,
    "test_fraction": 0.3,
    "baseline_lightgbm_configs": 3,
}


def scores_with_signal(labels: np.ndarray, strength: float, seed: int) -> np.ndarray:
    """Scores that rank positives higher by `strength` standard deviations of noise."""
    return labels * strength + np.random.default_rng(seed).normal(size=len(labels))


@pytest.fixture
def labels() -> np.ndarray:
    return (np.random.default_rng(0).random(2000) < 0.2).astype(int)


# --- the paired comparison ---------------------------------------------------------------------------------
def test_auc_difference_matches_sklearn_and_its_interval_holds_the_difference(labels):
    a, b = scores_with_signal(labels, 1.0, 1), scores_with_signal(labels, 0.9, 2)
    result = auc_difference(labels=labels, scores_a=a, scores_b=b, a="A", b="B")
    assert result.auc_a == pytest.approx(roc_auc_score(labels, a)) and result.auc_b == pytest.approx(
        roc_auc_score(labels, b)
    )
    assert result.low < result.difference < result.high and result.rows == 2000
    identical = auc_difference(labels=labels, scores_a=a, scores_b=a)
    assert identical.difference == 0 and identical.low == pytest.approx(0) and identical.verdict == "tie"
    assert auc_difference(labels=np.zeros(10), scores_a=np.arange(10), scores_b=np.arange(10)) is None


def test_the_delong_interval_covers_the_bootstrap_spread(labels):
    """DeLong's standard error of the paired difference agrees with a paired bootstrap's (within 25%)."""
    a, b = scores_with_signal(labels, 1.0, 3), scores_with_signal(labels, 0.8, 4)
    result = auc_difference(labels=labels, scores_a=a, scores_b=b)
    rng = np.random.default_rng(5)
    differences = []
    for _ in range(300):
        rows = rng.integers(0, len(labels), len(labels))
        differences.append(roc_auc_score(labels[rows], a[rows]) - roc_auc_score(labels[rows], b[rows]))
    delong_se = (result.high - result.low) / (2 * 1.959964)
    assert delong_se == pytest.approx(np.std(differences), rel=0.25)


# --- which family serves -----------------------------------------------------------------------------------
def test_a_significantly_better_baseline_serves(labels):
    choice = family_choose(
        labels=labels,
        probabilities={
            "transformer": scores_with_signal(labels, 0.3, 1),
            "lightgbm": scores_with_signal(labels, 1.5, 2),
            "logistic": scores_with_signal(labels, 1.0, 3),
        },
    )
    assert choice.family == "lightgbm" and "significantly worse" in choice.reasons[0]
    assert {c["b"] for c in choice.comparisons} == {"lightgbm", "logistic"}
    assert all(c["high"] < 0 for c in choice.comparisons if c["b"] == "lightgbm")


def test_the_transformer_serves_when_not_significantly_worse(labels):
    transformer = scores_with_signal(labels, 1.0, 1)
    baseline = transformer + np.random.default_rng(9).normal(scale=0.05, size=len(labels))
    choice = family_choose(labels=labels, probabilities={"transformer": transformer, "lightgbm": baseline})
    assert choice.family == "transformer"
    assert choice.comparisons[0]["verdict"] in ("tie", "better")


def test_prefer_always_keeps_the_transformer_and_a_missing_transformer_yields_the_best(labels):
    probabilities = {"transformer": scores_with_signal(labels, 0.2, 1), "logistic": scores_with_signal(labels, 2.0, 2)}
    assert family_choose(labels=labels, probabilities=probabilities, prefer_always=True).family == "transformer"
    assert family_choose(labels=labels, probabilities={"logistic": probabilities["logistic"]}).family == "logistic"
    with pytest.raises(ValueError):
        family_choose(labels=labels, probabilities={})


# --- may it replace the champion? --------------------------------------------------------------------------
def choice_of(family: str = "transformer") -> FamilyChoice:
    return FamilyChoice(family=family, reasons=[f"{family} chosen"])


def evidence(labels: np.ndarray, champion: np.ndarray, candidate: np.ndarray, metrics: dict | None = None):
    return ChampionEvidence(
        model_version_id=7,
        metrics=metrics or {},
        labels=labels,
        champion_probabilities=champion,
        candidate_probabilities=candidate,
    )


def probabilities(scores: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(scores - 1.5)))


def test_no_champion_promotes_the_chosen_family():
    decision = champion_decide(
        choice=choice_of("lightgbm"), candidate_metrics={"roc_auc": 0.8}, champion=None, margin=0.005
    )
    assert decision.promote and decision.family == "lightgbm" and "no current champion" in decision.reasons[-1]


def test_paired_better_worse_and_tie(labels):
    strong, weak = probabilities(scores_with_signal(labels, 1.5, 1)), probabilities(scores_with_signal(labels, 0.5, 2))
    better = champion_decide(
        choice=choice_of(), candidate_metrics={}, champion=evidence(labels, weak, strong), margin=0.005
    )
    assert better.promote and better.champion_comparison["verdict"] == "better" and better.method == "delong"
    worse = champion_decide(
        choice=choice_of(), candidate_metrics={}, champion=evidence(labels, strong, weak), margin=0.005
    )
    assert not worse.promote and "worse than the champion" in worse.reasons[-1]
    # A tie: the same ranking; calibration on those rows decides (newer data wins when not worse calibrated).
    squashed = 0.5 + (strong - 0.5) * 0.2  # same order, far worse Brier
    tie_worse = champion_decide(
        choice=choice_of(), candidate_metrics={}, champion=evidence(labels, strong, squashed), margin=0.005
    )
    assert tie_worse.champion_comparison["verdict"] == "tie" and not tie_worse.promote
    tie_same = champion_decide(
        choice=choice_of(), candidate_metrics={}, champion=evidence(labels, strong, strong), margin=0.005
    )
    assert tie_same.promote and "a tie" in tie_same.reasons[-1]


def test_without_shared_rows_the_stored_metrics_decide_with_the_margin():
    stored = ChampionEvidence(model_version_id=3, metrics={"roc_auc": 0.85, "brier": 0.10, "ece": 0.03})
    worse = champion_decide(choice=choice_of(), candidate_metrics={"roc_auc": 0.82}, champion=stored, margin=0.005)
    assert not worse.promote and worse.method == "stored metrics" and worse.champion_model_version_id == 3
    assert champion_decide(
        choice=choice_of(), candidate_metrics={"roc_auc": 0.86}, champion=stored, margin=0.005
    ).promote
    tie = champion_decide(
        choice=choice_of(),
        candidate_metrics={"roc_auc": 0.853, "brier": 0.09, "ece": 0.02},
        champion=stored,
        margin=0.005,
    )
    assert tie.promote
    assert not champion_decide(
        choice=choice_of(), candidate_metrics={"roc_auc": float("nan")}, champion=stored, margin=0.005
    ).promote


# --- the gate inside training ------------------------------------------------------------------------------
@pytest.fixture
def small_org(settings: Any):
    settings.ML_MIN_TRAINING_ROWS = 100
    return synthetic_org_create(contacts=240, seed=3, slug="gated")


@pytest.mark.django_db
def test_a_first_model_whose_transformer_trails_is_served_by_the_best_baseline(small_org, settings):
    """A Transformer that learned nothing (one epoch at a tiny learning rate) is significantly worse than the
    baselines: the best baseline serves, with its own reasons, and the organisation is scored."""
    run = training_services.training_run_create(
        organization_id=small_org.id, params={**TINY, "epochs": 1, "learning_rate": 1e-7}
    )
    version = training_services.training_run_execute(training_run_id=run.pk)
    gate = version.metrics["gate"]
    assert version.status == ModelVersion.Status.CHAMPION and gate["promote"] is True
    assert gate["family"] in ("lightgbm", "logistic") and version.architecture == gate["family"]
    assert version.metrics["family"] == gate["family"] and version.artifact_path.endswith(f".{gate['family']}.joblib")
    assert version.metrics["roc_auc"] == version.metrics["baselines"][gate["family"]]["roc_auc"]
    assert "significantly worse" in gate["reasons"][0]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.log[-1]["gate"] == gate
    result = scoring_services.contacts_score(organization_id=small_org.id)
    assert result.scored > 0 and result.model_version_id == version.id
    factors = [p.top_factors for p in Prediction.objects.filter(organization=small_org, is_current=True)]
    assert sum(1 for f in factors if f) > 0.9 * len(factors)
    known = {c["name"] for c in version.feature_schema["features"]}
    assert all(f["feature"] in known and f["direction"] in "+-" and " = " in f["label"] for row in factors for f in row)
    assert PeriodicTask.objects.filter(task=NIGHTLY_TASK).exists()


@pytest.mark.django_db
def test_training_keeps_a_stronger_champion(small_org, settings):
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    champion = ModelVersionFactory(
        organization=small_org,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        metrics={"roc_auc": 0.999, "brier": 0.001, "ece": 0.0},
    )
    version = training_services.model_train(organization_id=small_org.id, params=TINY)
    assert (version.version, version.status) == (2, ModelVersion.Status.CANDIDATE)
    assert version.metrics["gate"]["champion_model_version_id"] == champion.id
    assert version.metrics["gate"]["method"] == "stored metrics"  # the factory champion has no artifact
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION


@pytest.mark.django_db
def test_same_data_and_seed_give_the_same_metrics_and_the_champion_is_compared_on_shared_rows(small_org, settings):
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    first = training_services.model_train(organization_id=small_org.id, params={**TINY, "epochs": 3})
    second = training_services.model_train(organization_id=small_org.id, params={**TINY, "epochs": 3})
    for key in ("roc_auc", "brier", "ece"):
        assert first.metrics[key] == second.metrics[key]
        for name in ("lightgbm", "logistic"):
            assert first.metrics["baselines"][name][key] == second.metrics["baselines"][name][key]
    comparison = second.metrics["gate"]["champion_comparison"]
    # Same seed: the stable split puts the same contacts in test, none of which the champion trained on.
    assert second.metrics["gate"]["method"] == "delong" and comparison["rows"] == first.metrics["split_rows"]["test"]
    assert comparison["difference"] == 0 and comparison["verdict"] == "tie"


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
    run = training_services.training_run_create(organization_id=organization.id, params=TINY)
    assert training_services.training_run_execute(training_run_id=run.pk) is None
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
        training_services.training_run_create(organization_id=organization.id, params={"baseline_lightgbm_configs": 0})
    assert "params" in error.value.message_dict
    run = training_services.training_run_create(
        organization_id=organization.id, params={"baseline_lightgbm_configs": 4}
    )
    assert run.params == {"baseline_lightgbm_configs": 4}


# --- rollback ----------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_rollback_restores_the_previous_champion_and_twice_undoes_itself():
    organization = OrganizationFactory()
    first = ModelVersionFactory(organization=organization, version=1)
    second = ModelVersionFactory(organization=organization, version=2)
    never_promoted = ModelVersionFactory(organization=organization, version=3)
    with pytest.raises(ValidationError):
        model_versions.model_version_rollback(organization_id=organization.id, task=first.task)
    model_versions.model_version_promote(model_version_id=first.id)
    model_versions.model_version_promote(model_version_id=second.id)

    restored = model_versions.model_version_rollback(organization_id=organization.id, task=first.task)
    assert restored.id == first.id and restored.status == ModelVersion.Status.CHAMPION
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.RETIRED
    again = model_versions.model_version_rollback(organization_id=organization.id, task=first.task)
    assert again.id == second.id
    never_promoted.refresh_from_db()
    assert never_promoted.status == ModelVersion.Status.CANDIDATE  # a candidate is not a "previous champion"


# --- corrupted artifacts -----------------------------------------------------------------------------------
@pytest.fixture
def two_champions(small_org, settings):
    """v1 was champion, v2 (same data, promoted by hand) is champion now; both artifacts are real."""
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    params = {**TINY, "epochs": 3}
    first = training_services.model_train(organization_id=small_org.id, params=params)
    second = training_services.model_train(organization_id=small_org.id, params={**params, "seed": 1})
    model_versions.model_version_promote(model_version_id=second.id)
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
    result = scoring_services.contacts_score(organization_id=organization.id)
    assert result.model_version_id == first.id and result.fallback_from_model_version_id == second.id
    assert result.scored > 0
    assert set(Prediction.objects.filter(organization=organization).values_list("model_version", flat=True)) == {
        first.id
    }
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.CHAMPION  # statuses are an operator's decision
    with pytest.raises(scoring_services.ModelArtifactUnavailable):  # asked for by id: no substitute
        scoring_services.contacts_score(organization_id=organization.id, model_version_id=second.id)


@pytest.mark.django_db
def test_with_no_intact_model_scoring_fails_without_writing_predictions(two_champions):
    organization, first, second = two_champions
    corrupt(second)
    artifact_absolute_path(first.artifact_path).unlink()
    with pytest.raises(scoring_services.ModelArtifactUnavailable) as error:
        scoring_services.contacts_score(organization_id=organization.id)
    assert "no former champion loads" in " ".join(error.value.messages)
    assert not Prediction.objects.filter(organization=organization).exists()
