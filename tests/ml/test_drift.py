"""Drift: PSI of scores and input fields, training reference vs the rows a scoring run scored."""

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml import scoring_services, training_services
from ml.engine.drift import (
    EPSILON,
    DriftAccumulator,
    FieldSpec,
    psi,
    psi_band,
    reference_distributions_build,
)
from ml.models import ScoringRun
from salesai.core.models import Contact
from tests.ml.crm_data import synthetic_org_create

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 8, "batch_size": 64, "test_fraction": 0.3}
FIELDS = [FieldSpec("amount", "numeric", "Amount"), FieldSpec("source", "categorical", "Source")]


def _frame(rng: np.random.Generator, rows: int, *, shift: float = 0.0, sources=("Web", "Referral")) -> pd.DataFrame:
    amount = rng.normal(100 + shift, 10, rows)
    amount[rng.random(rows) < 0.1] = np.nan  # some missing values: their own bin
    return pd.DataFrame({"amount": amount, "source": rng.choice(list(sources), rows)})


# --- the index itself ---------------------------------------------------------------------------------------
def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)  # counts are normalised first
    small = psi([0.5, 0.5], [0.55, 0.45])
    large = psi([0.5, 0.5], [0.9, 0.1])
    assert 0 < small < large
    # An empty bin is floored at epsilon: finite, and the formula still holds.
    expected = (1.0 - 0.5) * np.log(1.0 / 0.5) + (EPSILON - 0.5) * np.log(EPSILON / 0.5)
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    ("value", "band"),
    [(None, ""), (0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.25, "moderate"), (0.26, "major")],
)
def test_bands(value, band):
    assert psi_band(value) == band


def test_same_population_is_stable_and_a_shifted_field_is_major():
    rng = np.random.default_rng(0)
    reference = reference_distributions_build(frame=_frame(rng, 4000), fields=FIELDS, scores=rng.beta(2, 5, 4000))
    assert reference["features"]["amount"]["kind"] == "numeric" and len(reference["features"]["amount"]["edges"]) >= 5
    assert sorted(reference["features"]["source"]["categories"]) == ["Referral", "Web"]  # most frequent first

    same = DriftAccumulator(reference=reference)
    same.add(frame=_frame(rng, 3000), probabilities=rng.beta(2, 5, 3000))
    report = same.report()
    assert report.rows == 3000 and report.band == "stable"
    assert {name: item["band"] for name, item in report.feature_psi.items()} == {"amount": "stable", "source": "stable"}

    moved = DriftAccumulator(reference=reference)
    moved.add(frame=_frame(rng, 3000, shift=25, sources=("Partner",)), probabilities=rng.beta(5, 2, 3000))
    report = moved.report()
    assert report.band == "major" and report.score_psi > 0.25
    assert report.feature_psi["amount"]["band"] == "major"
    # A category never seen in training lands in "<other>": that is drift too, and labelled in words.
    assert report.feature_psi["source"] == {
        "psi": report.feature_psi["source"]["psi"],
        "band": "major",
        "label": "Source",
    }


def test_chunks_add_up_to_the_whole():
    rng = np.random.default_rng(1)
    reference = reference_distributions_build(frame=_frame(rng, 1000), fields=FIELDS, scores=rng.random(1000))
    frame, scores = _frame(rng, 900, shift=5), rng.random(900)
    whole, chunked = DriftAccumulator(reference=reference), DriftAccumulator(reference=reference)
    whole.add(frame=frame, probabilities=scores)
    for start in range(0, 900, 250):
        chunked.add(frame=frame.iloc[start : start + 250], probabilities=scores[start : start + 250])
    assert chunked.report() == whole.report()


def test_without_a_reference_nothing_is_measured():
    accumulator = DriftAccumulator(reference=None)
    accumulator.add(frame=pd.DataFrame({"amount": [1.0]}), probabilities=np.array([0.3]))
    report = accumulator.report()
    assert report.score_psi is None and report.feature_psi == {} and report.band == ""
    assert DriftAccumulator(reference={"format": 999}).reference is None


# --- stored per scoring run ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_training_stores_a_reference_and_each_scoring_run_its_drift(settings: Any):
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    organization = synthetic_org_create(contacts=320, seed=3)
    version = training_services.model_train(organization_id=organization.id, params=TINY)
    reference = version.metrics["reference_distributions"]
    trained_fields = {f["name"] for f in version.feature_schema["features"] if f["kind"] in ("numeric", "categorical")}
    assert set(reference["features"]) <= trained_fields and "lead_source" in reference["features"]
    assert reference["score_rows"] == version.metrics["split_rows"]["valid"] + version.metrics["split_rows"]["test"]

    first = scoring_services.contacts_score(organization_id=organization.id)
    run = ScoringRun.objects.get(pk=first.scoring_run_id)
    assert (run.organization_id, run.model_version_id, run.trigger) == (organization.id, version.id, "full")
    assert run.scored == first.scored > 0 and sum(run.score_histogram.values()) == run.scored
    assert run.started_at <= run.finished_at and run.mean_probability == pytest.approx(first.mean_probability)
    assert run.score_psi is not None and run.drift == psi_band(run.score_psi)
    assert set(run.feature_psi) == set(reference["features"])
    before = run.feature_psi["lead_source"]["psi"]

    # Every open lead now comes from a source the model never saw: that field drifts, measurably.
    Contact.objects.filter(organization=organization, converted_at__isnull=True).update(lead_source="Partner")
    some = list(
        Contact.objects.filter(organization=organization, converted_at__isnull=True).values_list("id", flat=True)[:40]
    )
    second = scoring_services.contacts_score(organization_id=organization.id, contact_ids=some)
    run = ScoringRun.objects.get(pk=second.scoring_run_id)
    assert run.trigger == "contacts" and run.scored == len(some)
    assert run.feature_psi["lead_source"]["band"] == "major" and run.feature_psi["lead_source"]["psi"] > before
