import pytest

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection
from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.salesforce.connector import SalesforceConnector
from salesai.core.models import Contact
from tests.factories import ContactFactory, PredictionFactory


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


def rescore(contact: Contact, score: int) -> None:
    """A new current prediction replaces the old one (as a scoring run does)."""
    contact.predictions.filter(is_current=True).update(is_current=False)
    PredictionFactory(organization=contact.organization, contact=contact, probability=score / 100, score=score)
