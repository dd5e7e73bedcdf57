"""New scores are written back by themselves: ml's `predictions_updated` -> a writeback task per connection."""

from unittest import mock

import pytest

from crm_connectors.services import connection_create
from ml.signals import predictions_updated
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.crm_connectors.writeback.test_engine import hub_connection
from tests.factories import OrganizationFactory


@pytest.fixture
def hubspot_fake():
    with FakeHubSpot(contacts=2) as fake:
        yield fake


def test_scoring_queues_a_writeback_for_each_connection_that_takes_scores(
    db, hubspot_fake, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    organization = OrganizationFactory()
    hubspot = hub_connection(hubspot_fake, organization=organization)
    connection_create(
        organization=organization, kind="csv", name="export", config={"path": "export", "mapping": {"objects": {}}}
    )
    other_org_hubspot = hub_connection(hubspot_fake, name="elsewhere")

    with mock.patch("crm_connectors.tasks.writeback_connection.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            predictions_updated.send(sender=None, organization_id=organization.id, contact_ids=[1, 2])

    assert [call.kwargs["connection_id"] for call in delay.call_args_list] == [hubspot.pk]
    assert other_org_hubspot.pk != hubspot.pk
