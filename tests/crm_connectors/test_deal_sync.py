"""After a sync, CRMs that expose deal pipelines or history get a deal-reference read queued; others do not."""

import pytest

from crm_connectors import tasks
from crm_connectors.deal_sync import deal_reference_sync, deal_reference_wanted
from crm_connectors.tasks import sync_connection
from tests.crm_connectors.conftest import basic_mapping
from tests.factories import CRMConnectionFactory

COMPANIES_ONLY = {"objects": {"companies": basic_mapping()["objects"]["companies"]}}

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr(tasks.sync_deal_reference, "delay", lambda **kwargs: sent.append(kwargs))
    return sent


def test_a_csv_sync_queues_nothing_and_the_read_says_why(csv_connection, write_companies, queued):
    write_companies([["C1", "Acme", "", ""]])
    connection = csv_connection(COMPANIES_ONLY)
    sync_connection(connection.pk)
    assert queued == [] and not deal_reference_wanted(connection_id=connection.pk)
    assert "neither deal pipelines nor deal history" in deal_reference_sync(connection_id=connection.pk).skipped


@pytest.mark.parametrize("kind", ["hubspot", "salesforce", "pipedrive"])
def test_crms_with_deal_history_want_the_read(kind):
    assert deal_reference_wanted(connection_id=CRMConnectionFactory(kind=kind).pk)


def test_a_finished_sync_of_such_a_crm_queues_the_read(csv_connection, write_companies, queued, monkeypatch):
    write_companies([["C1", "Acme", "", ""]])
    connection = csv_connection(COMPANIES_ONLY)
    monkeypatch.setattr(tasks, "deal_reference_wanted", lambda connection_id: True)
    sync_connection(connection.pk)
    assert queued == [{"connection_id": connection.pk}]
