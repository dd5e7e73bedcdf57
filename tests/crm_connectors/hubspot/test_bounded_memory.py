"""Sync memory stays flat: streamed reconciliation (no id set held) and change announcements in chunks."""

import pytest
from django.db import DatabaseError, transaction
from django.db import connection as db_connection

from crm_connectors import sync
from crm_connectors.signals import records_changed
from crm_connectors.sync import connection_sync
from salesai.core.models import Company, Contact
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot

pytestmark = pytest.mark.django_db


def live(connection) -> list[str]:
    return sorted(
        Contact.objects.filter(connection=connection, deleted_at__isnull=True).values_list("external_id", flat=True)
    )


def test_a_full_hubspot_sync_reconciles_through_the_table_without_holding_the_ids(hub_connection, sleeps):
    with FakeHubSpot(contacts=30, companies=3) as fake:
        connection = hub_connection(fake)
        assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
        fake.purge("contacts", 4)  # gone from every list (a GDPR delete): only the reconciliation sees it
        fake.purge("companies", 1)
        run = connection_sync(connection_id=connection.pk, full=True)
    assert (run.status, run.deleted) == ("succeeded", 2)
    assert Contact.objects.get(connection=connection, external_id=fake.record_id("contacts", 4)).deleted_at
    assert Company.objects.get(connection=connection, external_id=fake.record_id("companies", 1)).deleted_at
    assert len(live(connection)) == 29
    with pytest.raises(DatabaseError), transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM salesai_listed_{connection.pk}_contacts")  # the run dropped its table


def test_changes_are_announced_in_chunks_each_id_once(
    hub_connection, sleeps, monkeypatch, django_capture_on_commit_callbacks, settings
):
    monkeypatch.setattr(sync, "ANNOUNCE_CHUNK_IDS", 10)
    settings.SYNC_BATCH_RECORDS = 1  # every HubSpot page (100 records) commits alone
    received: list[dict] = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    records_changed.connect(receiver)
    try:
        with FakeHubSpot(contacts=250, companies=2) as fake:
            connection = hub_connection(fake)
            with django_capture_on_commit_callbacks(execute=True):
                run = connection_sync(connection_id=connection.pk, full=True)
    finally:
        records_changed.disconnect(receiver)
    assert run.status == "succeeded"
    contact_ids = [i for event in received for i in event["contact_ids"]]
    assert sorted(contact_ids) == sorted(Contact.objects.filter(connection=connection).values_list("id", flat=True))
    assert len(contact_ids) == len(set(contact_ids)) == 250
    assert sorted(i for event in received for i in event["company_ids"]) == sorted(
        Company.objects.filter(connection=connection).values_list("id", flat=True)
    )
    # Announced after each page that brought the pending ids to 10 or more: 2 companies + 100, 100, 50.
    assert [len(e["contact_ids"]) + len(e["company_ids"]) for e in received] == [102, 100, 50]
    assert {event["sync_run_id"] for event in received} == {run.pk}
