"""/api/v1/scoring-runs/: each scoring run's drift, scoped to the caller's organisations; and the source of
each score (model, pooled fallback, rep override) on predictions."""

from django.utils import timezone

from ml.models import Prediction, ScoringRun
from tests.api.conftest import ids
from tests.factories import ModelVersionFactory, PredictionFactory


def _run(model_version, *, score_psi: float, drift: str) -> ScoringRun:
    now = timezone.now()
    return ScoringRun.objects.create(
        organization=model_version.organization,
        model_version=model_version,
        trigger=ScoringRun.Trigger.FULL,
        started_at=now,
        finished_at=now,
        scored=120,
        overrides_kept=2,
        score_histogram={"0-9": 100, "10-19": 20},
        mean_probability=0.08,
        score_psi=score_psi,
        drift=drift,
        feature_psi={
            "lead_source": {"psi": 0.31, "band": "major", "label": "Lead source"},
            "open_deals": {"psi": 0.02, "band": "stable", "label": "Open deals"},
        },
    )


def test_lists_only_the_callers_runs_with_score_and_feature_psi(api_rep, tenant_a, tenant_b):
    mine = _run(tenant_a.model_version, score_psi=0.04, drift="stable")
    _run(tenant_b.model_version, score_psi=0.5, drift="major")

    response = api_rep.get("/api/v1/scoring-runs/")

    assert response.status_code == 200, response.content
    assert ids(response) == [mine.id]
    row = response.json()["results"][0]
    assert row["organization"] == "acme" and row["model_version"] == tenant_a.model_version.id
    assert row["model_version_number"] == tenant_a.model_version.version and row["pooled_model"] is False
    assert (row["score_psi"], row["drift"], row["trigger"], row["scored"]) == (0.04, "stable", "full", 120)
    assert row["feature_psi"]["lead_source"] == {"psi": 0.31, "band": "major", "label": "Lead source"}
    assert row["score_histogram"] == {"0-9": 100, "10-19": 20}


def test_filter_by_model_version_and_detail(api_rep, tenant_a, tenant_b):
    older = ModelVersionFactory(organization=tenant_a.organization)
    first = _run(older, score_psi=0.3, drift="major")
    second = _run(tenant_a.model_version, score_psi=0.01, drift="stable")

    assert ids(api_rep.get(f"/api/v1/scoring-runs/?model_version={older.id}")) == [first.id]
    assert ids(api_rep.get("/api/v1/scoring-runs/?drift=stable")) == [second.id]
    detail = api_rep.get(f"/api/v1/scoring-runs/{first.id}/")
    assert detail.status_code == 200 and detail.json()["score_psi"] == 0.3
    other = _run(tenant_b.model_version, score_psi=0.1, drift="moderate")
    assert api_rep.get(f"/api/v1/scoring-runs/{other.id}/").status_code == 404


def test_scoring_runs_are_read_only(api_manager, tenant_a):
    run = _run(tenant_a.model_version, score_psi=0.04, drift="stable")
    assert api_manager.post("/api/v1/scoring-runs/", {}, format="json").status_code == 405
    assert api_manager.delete(f"/api/v1/scoring-runs/{run.id}/").status_code == 405


def test_a_prediction_says_who_set_its_probability(api_rep, tenant_a):
    Prediction.objects.filter(contact=tenant_a.contact).update(is_current=False)
    pooled = PredictionFactory(
        organization=tenant_a.organization,
        contact=tenant_a.contact,
        model_version=tenant_a.model_version,
        probability=0.9,
        source=Prediction.Source.OVERRIDE,
        model_probability=0.35,
        note="Override by anna on 2026-11-28 (model: 0.35): Signed LOI",
    )

    row = api_rep.get(f"/api/v1/predictions/{pooled.id}/").json()

    assert (row["source"], row["probability"], row["model_probability"]) == ("override", 0.9, 0.35)
    assert row["note"].startswith("Override by anna")
    assert api_rep.get(f"/api/v1/predictions/{tenant_a.prediction.id}/").json()["source"] == "model"
