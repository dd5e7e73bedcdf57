"""The "Accounts at churn risk" panel: its selector (riskiest current predictions of live accounts in the
user's organisations, with the factor that raised the risk most) and the include that shows them."""

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from ml.models import Task
from salesai.dashboard.selectors import churn_risk_accounts_for_user
from tests.factories import CompanyFactory, ModelVersionFactory, PredictionFactory

FACTORS = [
    {"feature": "tenure_days", "label": "Days as a customer = 20", "direction": "+", "weight": 0.2},
    {"feature": "recent_activity", "label": 'Recent note: "Budget cut announced"', "direction": "+", "weight": -0.6},
    {"feature": "won_deals", "label": "Won deals = 3", "direction": "-", "weight": 0.9},
]


def _account(organization, probability, *, factors=FACTORS, **extra):
    company = CompanyFactory(organization=organization)
    model_version = ModelVersionFactory(organization=organization, task=Task.CHURN)
    PredictionFactory(
        organization=organization,
        company=company,
        contact=None,
        task=Task.CHURN,
        model_version=model_version,
        probability=probability,
        top_factors=factors,
        **extra,
    )
    return company


@pytest.fixture
def risky(tenant_a):
    org = tenant_a.organization
    return [_account(org, p) for p in (0.3, 0.9, 0.6, 0.1)]


def test_riskiest_first_with_the_strongest_raising_reason(rep_a, risky):
    rows = churn_risk_accounts_for_user(user=rep_a, limit=3)

    assert [r.company_id for r in rows] == [risky[1].id, risky[2].id, risky[0].id]
    assert rows[0].company_name == risky[1].name
    assert rows[0].risk_percent == 90 and rows[0].probability == pytest.approx(0.9)
    assert rows[0].top_reason == 'Recent note: "Budget cut announced"'  # largest |weight| among "+" factors


def test_only_current_predictions_of_live_accounts_in_the_users_organisations(rep_a, risky, tenant_a, tenant_b):
    gone = _account(tenant_a.organization, 0.99)
    gone.deleted_at = timezone.now()
    gone.save()
    _account(tenant_a.organization, 0.98, is_current=False)
    _account(tenant_b.organization, 0.97)
    # A lead-conversion score (of a contact at a company) is not a churn risk.
    tenant_a.prediction.probability = 0.96
    tenant_a.prediction.save()
    assert tenant_a.prediction.task == Task.LEAD_CONVERSION and tenant_a.contact.company_id is not None

    rows = churn_risk_accounts_for_user(user=rep_a)

    assert [r.company_id for r in rows] == [risky[i].id for i in (1, 2, 0, 3)]
    assert churn_risk_accounts_for_user(user=rep_a, organization_id=tenant_a.organization.id) == rows
    assert churn_risk_accounts_for_user(user=rep_a, organization_id=tenant_b.organization.id) == []


def test_an_account_without_raising_factors_has_no_reason(rep_a, tenant_a):
    _account(tenant_a.organization, 0.5, factors=[FACTORS[2]])

    assert churn_risk_accounts_for_user(user=rep_a)[0].top_reason == ""


def test_the_include_lists_accounts_or_says_why_there_are_none(rep_a, risky):
    html = render_to_string("dashboard/_churn_risk.html", {"accounts": churn_risk_accounts_for_user(user=rep_a)})
    assert "Accounts at churn risk" in html and risky[1].name in html and "90%" in html
    assert "Budget cut announced" in html

    empty = render_to_string("dashboard/_churn_risk.html", {"accounts": []})
    assert "No account has a churn score yet" in empty
