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
from ml.models import ModelVersion, Prediction, Task
from ml.registry import model_cache_clear
from ml.serving import served_cache_clear
from salesai.core.models import Contact, Organization
from salesai.demo.pipeline import DEMO_ORG, DEMO_STEPS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_pipeline_serves_every_open_lead_and_customer_account(settings: Any, tmp_path: Path):
    settings.MODEL_STORE_DIR = tmp_path / "models"
    settings.ML_DEVICE = "cpu"
    model_cache_clear()
    served_cache_clear()
    out = StringIO()
    call_command("demo_pipeline", stdout=out, stderr=out)
    printed = out.getvalue()
    assert [step.command for step in DEMO_STEPS] == ["demo_seed", "ml_train", "ml_score", "ml_train", "ml_score"]
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
