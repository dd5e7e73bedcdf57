"""Companies with their current churn risk: the detail's prediction and reasons, ordering by risk with
unscored accounts last, and nothing from another task, another organisation or the history."""

import pytest

from ml.models import ModelVersion, Task
from tests.api.conftest import ids
from tests.factories import CompanyFactory, ModelVersionFactory, PredictionFactory

CHURN_FACTORS = [
    {"feature": "activities_30d", "label": "Activities (30 days) = 0", "direction": "+", "weight": 0.4},
    {
        "feature": "recent_activity",
        "label": 'Recent email: "We are considering switching"',
        "direction": "+",
        "weight": 0.7,
    },
    {"feature": "tenure_days", "label": "Days as a customer = 300", "direction": "-", "weight": 0.1},
]


def _churn(company, model_version, probability, **extra):
    return PredictionFactory(
        organization=company.organization,
        company=company,
        contact=None,
        task=Task.CHURN,
        model_version=model_version,
        probability=probability,
        top_factors=CHURN_FACTORS,
        **extra,
    )


@pytest.fixture
def accounts(tenant_a):
    """Three scored accounts (0.2, 0.8, 0.5), the fixture company unscored for churn (it only has a lead
    score on its contact), and an old, retired churn row that must not count."""
    org = tenant_a.organization
    churn_model = ModelVersionFactory(
        organization=org, task=Task.CHURN, architecture="churn_transformer", status=ModelVersion.Status.CHAMPION
    )
    low, high, mid = (CompanyFactory(organization=org, name=name) for name in ("Low AG", "High AG", "Mid AG"))
    for company, probability in ((low, 0.2), (high, 0.8), (mid, 0.5)):
        _churn(company, churn_model, probability)
    _churn(low, churn_model, 0.99, is_current=False)
    return {"low": low, "high": high, "mid": mid, "unscored": tenant_a.company, "model": churn_model}


def test_detail_shows_the_current_churn_prediction_with_reasons(api_manager, accounts):
    response = api_manager.get(f"/api/v1/companies/{accounts['high'].id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["churn_risk"] == pytest.approx(0.8) and body["churn_score"] == 80
    current = body["current_churn_prediction"]
    assert current["id"] == body["churn_prediction_id"]
    assert current["task"] == Task.CHURN and current["probability"] == pytest.approx(0.8) and current["score"] == 80
    assert current["model_version"]["id"] == accounts["model"].id
    assert current["model_version"]["architecture"] == "churn_transformer"
    assert [f["label"] for f in current["top_factors"]] == [f["label"] for f in CHURN_FACTORS]


def test_detail_of_an_unscored_account_has_no_churn_prediction(api_manager, accounts, tenant_a):
    # Its contact's lead-conversion prediction is not the account's churn risk.
    assert tenant_a.prediction.contact.company_id == accounts["unscored"].id
    body = api_manager.get(f"/api/v1/companies/{accounts['unscored'].id}/").json()

    assert body["current_churn_prediction"] is None
    assert body["churn_risk"] is None and body["churn_score"] is None


def test_detail_shows_the_current_row_not_the_retired_one(api_manager, accounts):
    body = api_manager.get(f"/api/v1/companies/{accounts['low'].id}/").json()

    assert body["current_churn_prediction"]["probability"] == pytest.approx(0.2)


def test_list_orders_by_churn_risk_with_unscored_accounts_last(api_manager, accounts):
    response = api_manager.get("/api/v1/companies/", {"ordering": "-churn_risk"})

    assert response.status_code == 200
    assert ids(response) == [accounts[k].id for k in ("high", "mid", "low", "unscored")]
    first, last = response.json()["results"][0], response.json()["results"][-1]
    assert first["churn_risk"] == pytest.approx(0.8) and first["churn_score"] == 80
    assert last["churn_risk"] is None
    ascending = ids(api_manager.get("/api/v1/companies/", {"ordering": "churn_risk"}))
    assert ascending == [accounts[k].id for k in ("low", "mid", "high", "unscored")]


def test_another_organisations_risk_never_shows(api_manager, accounts, tenant_b):
    other_model = ModelVersionFactory(organization=tenant_b.organization, task=Task.CHURN)
    _churn(tenant_b.company, other_model, 0.95)

    listed = ids(api_manager.get("/api/v1/companies/", {"ordering": "-churn_risk"}))
    assert tenant_b.company.id not in listed and listed[0] == accounts["high"].id
    assert api_manager.get(f"/api/v1/companies/{tenant_b.company.id}/").status_code == 404
