"""Current churn predictions per account: one per company and task (migration 0006's partial unique
index), annotated on companies for lists and prefetched for detail views."""

import pytest
from django.db import IntegrityError, transaction

from ml.churn_selectors import companies_with_churn_prediction, companies_with_churn_risk
from ml.models import Task
from salesai.core.models import Company
from tests.factories import CompanyFactory, ModelVersionFactory, OrganizationFactory, PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def churn_model():
    return ModelVersionFactory(organization=OrganizationFactory(), task=Task.CHURN)


def _churn(company, model_version, probability, **extra):
    return PredictionFactory(
        organization=company.organization,
        company=company,
        contact=None,
        task=Task.CHURN,
        model_version=model_version,
        probability=probability,
        **extra,
    )


def test_an_account_has_at_most_one_current_churn_prediction(churn_model):
    company = CompanyFactory(organization=churn_model.organization)
    _churn(company, churn_model, 0.4)
    _churn(company, churn_model, 0.3, is_current=False)  # history is unlimited
    with pytest.raises(IntegrityError), transaction.atomic():
        _churn(company, churn_model, 0.6)
    other = CompanyFactory(organization=churn_model.organization)
    _churn(other, churn_model, 0.6)  # one per company: another account is fine


def test_annotations_and_prefetch_follow_the_current_row(churn_model, django_assert_num_queries):
    org = churn_model.organization
    scored, unscored = CompanyFactory(organization=org), CompanyFactory(organization=org)
    _churn(scored, churn_model, 0.25, is_current=False)
    current = _churn(scored, churn_model, 0.75)

    rows = {c.id: c for c in companies_with_churn_risk(queryset=Company.objects.filter(organization=org))}
    assert rows[scored.id].churn_risk == pytest.approx(0.75) and rows[scored.id].churn_score == 75
    assert rows[scored.id].churn_prediction_id == current.id
    assert rows[unscored.id].churn_risk is None and rows[unscored.id].churn_prediction_id is None

    with django_assert_num_queries(2):  # companies + one prefetch, however many companies
        detailed = {c.id: c for c in companies_with_churn_prediction(queryset=Company.objects.filter(organization=org))}
        assert [p.id for p in detailed[scored.id].current_churn_predictions] == [current.id]
        assert detailed[unscored.id].current_churn_predictions == []
