import pytest

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection
from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.salesforce.connector import SalesforceConnector
from ml.models import Task
from salesai.core.models import Company, Contact
from tests.factories import CompanyFactory, ContactFactory, PredictionFactory


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    for connector in (HubSpotConnector, SalesforceConnector, PipedriveConnector):
        monkeypatch.setattr(connector, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def scored(db):
    """scored(connection, {external_id: score}) -> contacts of the connection, each with a current prediction."""

    def create(connection: CRMConnection, scores: dict[str, int]) -> list[Contact]:
        contacts = []
        for external_id, score in scores.items():
            contact = ContactFactory(
                organization=connection.organization, connection=connection, external_id=external_id
            )
            PredictionFactory(
                organization=connection.organization, contact=contact, probability=score / 100, score=score
            )
            contacts.append(contact)
        return contacts

    return create


@pytest.fixture
def churn_scored(db):
    """churn_scored(connection, {external_id: risk}) -> companies of the connection, each with a current churn
    prediction (company set, contact null, as the churn scoring run stores them)."""

    def create(connection: CRMConnection, risks: dict[str, int]) -> list[Company]:
        companies = []
        for external_id, risk in risks.items():
            company = CompanyFactory(
                organization=connection.organization, connection=connection, external_id=external_id
            )
            churn_predict(company, risk)
            companies.append(company)
        return companies

    return create


def churn_predict(company: Company, risk: int) -> None:
    """A new current churn prediction for the company; the old one becomes history (as a churn run does)."""
    company.predictions.filter(task=Task.CHURN, is_current=True).update(is_current=False)
    PredictionFactory(
        organization=company.organization,
        company=company,
        contact=None,
        task=Task.CHURN,
        model_version__task=Task.CHURN,
        probability=risk / 100,
        score=risk,
    )


def rescore(contact: Contact, score: int) -> None:
    """A new current prediction replaces the old one (as a scoring run does)."""
    contact.predictions.filter(is_current=True).update(is_current=False)
    PredictionFactory(organization=contact.organization, contact=contact, probability=score / 100, score=score)
