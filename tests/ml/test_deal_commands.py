import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from ml import deal_services
from ml.beat import DEALS_NIGHTLY_TASK
from ml.models import ForecastSnapshot, Prediction, Task
from ml.tasks import deals_nightly
from tests.ml.deal_data import NOW, deal_org_create

pytestmark = pytest.mark.django_db
MAVEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "maven-crm-sales-opportunities"


@pytest.mark.skipif(not (MAVEN / "sales_pipeline.csv").exists(), reason=f"Maven CRM data not found at {MAVEN}")
def test_backtest_on_the_maven_data_writes_the_table(tmp_path):
    out, target = StringIO(), tmp_path / "backtest.json"
    call_command(
        "ml_backtest_forecast",
        "--csv",
        str(MAVEN),
        "--origins",
        "1",
        "--families",
        "logistic",
        "--draws",
        "200",
        "--json",
        str(target),
        stdout=out,
    )
    table = json.loads(target.read_text())
    assert set(table["methods"]) >= {"our", "stage_weighted", "commit", "run_rate"}
    assert table["methods"]["run_rate"]["coverage_80"] is None and table["methods"]["our"]["coverage_80"] is not None
    assert table["origins"] == ["2017-10"]
    assert "coverage 80%" in out.getvalue() and "n/a" in out.getvalue()


def test_backtest_needs_exactly_one_source():
    with pytest.raises(CommandError, match="exactly one"):
        call_command("ml_backtest_forecast")
    with pytest.raises(CommandError, match="no organisation"):
        call_command("ml_backtest_forecast", "--org", "nobody")


def test_nightly_task_trains_scores_forecasts_and_schedules(monkeypatch):
    organization = deal_org_create(n=300, slug="nightly")
    train = deal_services.deal_model_train

    def fast_train(**kwargs):
        return train(**kwargs, now=NOW, families=("logistic",))

    monkeypatch.setattr(deal_services, "deal_model_train", fast_train)
    monkeypatch.setattr(deal_services.timezone, "now", lambda: NOW)
    summary = deals_nightly(organization.id)
    assert summary["scored"] > 0 and summary["forecast_snapshot_id"]
    assert Prediction.objects.filter(task=Task.DEAL_WIN, is_current=True).count() == summary["scored"]
    entry = PeriodicTask.objects.get(name=f"ml nightly deals: {organization.slug}")
    assert entry.task == DEALS_NIGHTLY_TASK and json.loads(entry.args) == [organization.id]
    # run again the same day: one more version and history rows, the same forecast snapshot
    again = deals_nightly(organization.id)
    assert again["forecast_snapshot_id"] == summary["forecast_snapshot_id"]
    assert ForecastSnapshot.objects.filter(organization=organization, method="our").count() == 1


def test_ml_forecast_command_prints_the_rows(monkeypatch):
    organization = deal_org_create(n=300, slug="forecast-cmd")
    deal_services.deal_model_train(organization_id=organization.id, now=NOW, families=("logistic",))
    monkeypatch.setattr(deal_services.timezone, "now", lambda: NOW)
    out = StringIO()
    call_command("ml_forecast", "--org", organization.slug, stdout=out)
    text = out.getvalue()
    assert "2025-04" in text and "stage_weighted" in text and "run_rate" in text
