"""/app/'s drift card: the latest scoring run's score PSI and the input fields that moved most."""

from datetime import timedelta

from django.utils import timezone

from ml.models import ScoringRun


def _run(tenant, *, minutes_ago: int, score_psi: float | None, drift: str, features: dict) -> ScoringRun:
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    return ScoringRun.objects.create(
        organization=tenant.organization,
        model_version=tenant.model_version,
        trigger="full",
        started_at=moment,
        finished_at=moment,
        scored=42,
        score_psi=score_psi,
        drift=drift,
        feature_psi=features,
    )


def test_drift_card_shows_the_latest_run_worst_fields_first(client_a, tenant_a, tenant_b):
    _run(tenant_a, minutes_ago=60, score_psi=0.9, drift="major", features={})
    _run(
        tenant_a,
        minutes_ago=1,
        score_psi=0.031,
        drift="stable",
        features={
            "open_deals": {"psi": 0.02, "band": "stable", "label": "Open deals"},
            "lead_source": {"psi": 0.412, "band": "major", "label": "Lead source"},
        },
    )
    _run(tenant_b, minutes_ago=0, score_psi=0.777, drift="major", features={})

    html = client_a.get("/app/").content.decode()

    assert 'id="drift-title"' in html and "42 scored" in html
    assert '<td class="num">0.031</td>' in html and "0.777" not in html and "0.900" not in html
    assert html.index("Lead source") < html.index("Open deals")  # the field that moved most comes first
    assert '<td class="num">0.412</td>' in html


def test_drift_card_without_runs_or_reference(client_a, tenant_a):
    assert "No scoring run yet." in client_a.get("/app/").content.decode()
    _run(tenant_a, minutes_ago=1, score_psi=None, drift="", features={})
    assert "trained before drift was recorded" in client_a.get("/app/").content.decode()
