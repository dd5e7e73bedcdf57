import datetime as dt
from decimal import Decimal

import pytest

from ml import deal_selectors, deal_services
from ml.models import ForecastRow, ForecastSnapshot, ModelVersion, Prediction, Task
from salesai.core.models import Deal
from tests.ml.deal_data import NOW, deal_org_create

pytestmark = pytest.mark.django_db
FAST = ("lightgbm", "logistic")


@pytest.fixture
def trained_org():
    organization = deal_org_create()
    version = deal_services.deal_model_train(organization_id=organization.id, now=NOW, families=FAST)
    return organization, version


def test_training_registers_a_deal_win_champion_with_every_family(trained_org):
    organization, version = trained_org
    assert version.task == Task.DEAL_WIN and version.status == ModelVersion.Status.CHAMPION
    families = version.metrics["families"]
    assert set(families) == {"lightgbm", "logistic", "stage_weighted"}
    # stage predicts winning in this world: the served model ranks better than chance on held-out deals
    assert families[version.metrics["family"]]["roc_auc"] > 0.6


def test_scoring_writes_current_deal_predictions_and_keeps_history(trained_org):
    organization, _ = trained_org
    scored = deal_services.deals_score(organization_id=organization.id, now=NOW)
    open_deals = Deal.objects.filter(organization=organization, status="open").count()
    assert scored == open_deals > 0
    prediction = Prediction.objects.filter(task=Task.DEAL_WIN, is_current=True).first()
    assert prediction.deal_id and prediction.contact_id is None and prediction.company_id is None
    months = [entry["p"] for entry in prediction.details["win_by_month"]]
    assert months == sorted(months) and prediction.probability == pytest.approx(months[-1], abs=1e-4)
    assert prediction.details["horizon_months"] == 3 and prediction.top_factors
    deal_services.deals_score(organization_id=organization.id, now=NOW)
    assert Prediction.objects.filter(task=Task.DEAL_WIN, is_current=True).count() == open_deals
    assert Prediction.objects.filter(task=Task.DEAL_WIN).count() == 2 * open_deals
    ranked = list(deal_selectors.deals_scored(organization_id=organization.id, filters={"status": "open"}))
    assert ranked[0].win_probability >= ranked[-1].win_probability


def test_forecast_snapshot_rows_baselines_and_actuals(trained_org):
    organization, _ = trained_org
    snapshot = deal_services.forecast_create(organization_id=organization.id, as_of=NOW)
    org_rows = list(snapshot.rows.filter(scope="org").order_by("month"))
    assert [row.month for row in org_rows] == [dt.date(2025, 4, 1), dt.date(2025, 5, 1), dt.date(2025, 6, 1)]
    for row in org_rows:
        assert row.p10 <= row.p50 <= row.p90
        assert row.expected == pytest.approx(row.open_pipeline_part + row.new_deal_part, abs=Decimal("0.05"))
    owners = snapshot.rows.filter(scope="owner", month=dt.date(2025, 4, 1))
    assert sum(r.open_pipeline_part for r in owners) == pytest.approx(org_rows[0].open_pipeline_part, rel=1e-6)
    assert org_rows[0].top_deals and org_rows[0].top_deals[0]["expected_contribution"] > 0
    methods = set(ForecastSnapshot.objects.filter(organization=organization).values_list("method", flat=True))
    assert methods == {"our", "stage_weighted", "commit", "run_rate"}
    # the same day again reuses it
    again = deal_services.forecast_create(organization_id=organization.id, as_of=NOW, reuse_same_day=True)
    assert again.pk == snapshot.pk
    # a month later, April has closed: its actual is filled from the won deals
    filled = deal_services.forecast_actuals_fill(organization_id=organization.id, now=NOW + dt.timedelta(days=31))
    assert filled >= 1
    april = ForecastRow.objects.get(snapshot=snapshot, scope="org", month=dt.date(2025, 4, 1))
    won = Deal.objects.filter(
        organization=organization, status="won", closed_at__gte=NOW, closed_at__lt=NOW + dt.timedelta(days=30)
    )
    assert april.actual == sum((d.amount_base for d in won), Decimal("0"))


def test_slipping_deals(trained_org):
    organization, _ = trained_org
    slipping = list(deal_selectors.deals_slipping(organization_id=organization.id, today=dt.date(2025, 4, 1)))
    assert slipping and all(d.status == "open" for d in slipping)
    assert all(d.close_date < dt.date(2025, 4, 1) or d.close_date_pushes >= 2 for d in slipping)


def test_forecast_without_a_model_is_refused():
    organization = deal_org_create(n=50, slug="untrained")
    with pytest.raises(ValueError, match="no deal model"):
        deal_services.forecast_create(organization_id=organization.id, as_of=NOW)
