"""Too few outcomes to train: the organisation is scored by the pooled model, and every score says so."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ml import model_versions, scoring_services, training_services
from ml.models import ModelVersion, Prediction, ScoringRun
from ml.pooled import pooled_model_train
from tests.factories import ContactFactory, OrganizationFactory
from tests.ml.crm_data import synthetic_org_create

pytestmark = pytest.mark.django_db

TINY = {
    "d_token": 16,
    "n_heads": 2,
    "n_layers": 1,
    "epochs": 8,
    "batch_size": 64,
    "test_fraction": 0.3,
    "baseline_lightgbm_configs": 2,
}


@pytest.fixture
def small_org():
    """Twelve leads, one conversion: far too few to train a model of its own."""
    organization = OrganizationFactory(slug="tiny")
    ContactFactory.create_batch(11, organization=organization, job_title="Chief Dreamer")
    ContactFactory(organization=organization, converted_at=timezone.now() - timedelta(days=10))
    return organization


@pytest.fixture
def pooled_settings(settings: Any) -> Any:
    settings.ML_POOLED_FALLBACK = True
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    return settings


def test_an_organisation_with_too_few_outcomes_is_scored_by_the_pooled_model(pooled_settings, small_org):
    synthetic_org_create(contacts=320, seed=3, slug="big")
    with pytest.raises(ValidationError) as error:
        training_services.model_train(organization_id=small_org.id, params=TINY)
    assert "training_data" in error.value.message_dict

    pooled = pooled_model_train(params=TINY)
    assert (pooled.organization_id, pooled.version, pooled.status) == (None, 1, ModelVersion.Status.CHAMPION)
    assert pooled.artifact_path.startswith("_pooled/") and pooled.metrics["pooled"]["organizations"] == 2
    features = {f["name"] for f in pooled.feature_schema["features"]}
    # Only features that mean the same in every organisation: no free-form titles, no custom CRM fields.
    assert "lead_source" in features and "job_title" not in features
    assert not any(name.startswith("prop__") for name in features)
    assert "reference_distributions" in pooled.metrics

    result = scoring_services.contacts_score(organization_id=small_org.id)
    assert result.pooled and result.model_version_id == pooled.id and result.scored == 11
    predictions = list(Prediction.objects.filter(organization=small_org, is_current=True))
    assert {p.source for p in predictions} == {Prediction.Source.POOLED}
    assert all(p.model_probability == p.probability for p in predictions)
    assert "pooled model" in predictions[0].note and "only 1 conversion " in predictions[0].note
    run = ScoringRun.objects.get(pk=result.scoring_run_id)
    assert run.organization_id == small_org.id and run.model_version_id == pooled.id and run.score_psi is not None


def test_without_the_opt_in_there_is_no_pooled_model_and_no_score(settings: Any, small_org):
    settings.ML_POOLED_FALLBACK = False
    with pytest.raises(ValidationError) as error:
        pooled_model_train(params=TINY)
    assert "pooled" in error.value.message_dict
    # Even an existing pooled champion is not used while the fallback is off.
    ModelVersion.objects.create(
        organization=None,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        architecture="ft_transformer",
        artifact_path="_pooled/lead_conversion/v1.pt",
    )
    with pytest.raises(scoring_services.NoChampionModel):
        scoring_services.contacts_score(organization_id=small_org.id)


def test_an_organisations_own_champion_comes_before_the_pooled_one(pooled_settings, small_org):
    pooled = ModelVersion.objects.create(
        organization=None,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        architecture="ft_transformer",
        artifact_path="_pooled/lead_conversion/v1.pt",
    )
    own = ModelVersion.objects.create(
        organization=small_org,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        architecture="ft_transformer",
        artifact_path="tiny/lead_conversion/v1.pt",
    )
    assert scoring_services._scoring_version(organization_id=small_org.id, model_version_id=None) == own
    own.delete()
    assert scoring_services._scoring_version(organization_id=small_org.id, model_version_id=None) == pooled


def test_pooled_versions_number_and_crown_themselves_apart_from_every_organisation(pooled_settings):
    first = ModelVersion.objects.create(
        organization=None,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        architecture="ft_transformer",
        artifact_path="_pooled/lead_conversion/v1.pt",
    )
    second = ModelVersion.objects.create(
        organization=None, version=2, architecture="ft_transformer", artifact_path="_pooled/lead_conversion/v2.pt"
    )
    model_versions.model_version_promote(model_version_id=second.id)
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.RETIRED
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(organization=None, version=2, architecture="ft_transformer", artifact_path="x")
