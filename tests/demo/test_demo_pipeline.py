"""The front door: the demo pipeline exactly as `make demo` runs it (salesai/demo/pipeline.py), at its default
size, on the suite's database. Slow (it trains the real demo models); CI runs it, so a change to the generator,
the features or the models that leaves the demo without a served model fails CI."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from ml.features.churn import churn_scoring_frame
from ml.models import ForecastRow, ForecastSnapshot, ModelVersion, Prediction, Task
from ml.registry import model_cache_clear
from ml.serving import served_cache_clear
from salesai.core.models import Contact, Deal, Organization
from salesai.demo.pipeline import DEMO_ORG, DEMO_STEPS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_pipeline_serves_every_open_lead_customer_account_and_open_deal(settings: Any, tmp_path: Path):
    settings.MODEL_STORE_DIR = tmp_path / "models"
    settings.ML_DEVICE = "cpu"
    model_cache_clear()
    served_cache_clear()
    out = StringIO()
    call_command("demo_pipeline", stdout=out, stderr=out)
    printed = out.getvalue()
    assert [step.command for step in DEMO_STEPS] == [
        "demo_seed",
        *["ml_train", "ml_score"] * 3,  # leads, churn, deals
        "ml_forecast",
    ]
    assert "demo pipeline step times:" in printed, printed

    organization = Organization.objects.get(slug=DEMO_ORG)
    for task in (Task.LEAD_CONVERSION, Task.CHURN):
        champion = ModelVersion.objects.get(organization=organization, task=task, status=ModelVersion.Status.CHAMPION)
        gate = champion.metrics["gate"]
        assert gate["promote"] and gate["family"] == champion.metrics["family"], gate
        assert {c["b"] for c in gate["family_choice"]["comparisons"]} <= {"lightgbm", "logistic"}

    open_leads = Contact.objects.filter(organization=organization, deleted_at__isnull=True, converted_at__isnull=True)
    current = Prediction.objects.filter(organization=organization, task=Task.LEAD_CONVERSION, is_current=True)
    assert open_leads.count() > 1000
    assert set(current.values_list("contact_id", flat=True)) == set(open_leads.values_list("id", flat=True))
    assert not current.filter(top_factors=[]).exists(), "every lead score carries its reasons"

    churn = Prediction.objects.filter(organization=organization, task=Task.CHURN, is_current=True)
    scored_accounts = set(churn.values_list("company_id", flat=True))
    # The current customers as the churn features define them (won a deal, not churned, not deleted).
    customers = churn_scoring_frame(
        organization_id=organization.id,
        as_of=timezone.now(),
        company_ids=None,
        property_keys=[],
        sequence_length=4,
        text=False,
    ).frame.index
    assert len(scored_accounts) > 50 and scored_accounts == {int(i) for i in customers}
    assert not churn.filter(top_factors=[]).exists(), "every churn score carries its reasons"
    printed_scored = [line for line in printed.splitlines() if line.startswith("scored churn risk of ")]
    assert printed_scored and str(len(scored_accounts)) in printed_scored[0]

    # Deals: a served deal model, every open deal scored with reasons and an expected close, and a stored
    # three-month forecast whose intervals are ordered, beside the stage-weighted baseline.
    assert ModelVersion.objects.filter(
        organization=organization, task=Task.DEAL_WIN, status=ModelVersion.Status.CHAMPION
    ).exists()
    open_deals = Deal.objects.filter(organization=organization, status=Deal.Status.OPEN, deleted_at__isnull=True)
    deal_scores = Prediction.objects.filter(organization=organization, task=Task.DEAL_WIN, is_current=True)
    assert open_deals.count() > 100
    assert set(deal_scores.values_list("deal_id", flat=True)) == set(open_deals.values_list("id", flat=True))
    assert not deal_scores.filter(top_factors=[]).exists(), "every deal score carries its reasons"
    assert all(details.get("expected_close") for details in deal_scores.values_list("details", flat=True))
    forecast = ForecastSnapshot.objects.filter(organization=organization, method="our").latest("created_at")
    months = forecast.rows.filter(scope=ForecastRow.Scope.ORG).order_by("month")
    assert months.count() == 3
    for row in months:
        assert row.p10 <= row.p50 <= row.p90 and row.expected > 0, (row.month, row.p10, row.p50, row.p90)
    assert ForecastSnapshot.objects.filter(organization=organization, method="stage_weighted").exists()
