"""The weekly reconciliation beat entry (`crm-reconcile-<id>`): a full sync that soft-deletes records the
CRM hard-deleted without telling anyone. The sync engine's side of this (full runs reconcile, incremental
ones cannot) is tested in test_hubspot_sync.py::test_full_sync_reconciles_purged_records_incremental_does_not."""

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm_connectors import tasks
from crm_connectors.models import CRMConnection
from crm_connectors.services import connection_create
from salesai.core.models import Contact
from tests.crm_connectors.conftest import basic_mapping
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_crm_connection_gets_a_reconcile_entry_that_runs_a_full_sync(fake_hub, hub_connection, settings):
    settings.SYNC_RECONCILE_INTERVAL_DAYS = 7
    connection = hub_connection(fake_hub)

    entry = PeriodicTask.objects.get(name=f"crm-reconcile-{connection.pk}")
    assert entry.task == "crm_connectors.tasks.sync_connection"
    assert json.loads(entry.args) == [] and json.loads(entry.kwargs) == {"connection_id": connection.pk, "full": True}
    assert (entry.interval.every, entry.interval.period) == (7, IntervalSchedule.DAYS)
    assert entry.enabled

    # Beat would call the task with exactly these arguments: the first run imports, then a contact is
    # hard-deleted in HubSpot (no archive, no webhook, invisible to incremental runs) and the next
    # reconciliation soft-deletes it.
    tasks.sync_connection(*json.loads(entry.args), **json.loads(entry.kwargs))
    purged = Contact.objects.get(connection=connection, external_id=fake_hub.record_id("contacts", 10))
    fake_hub.purge("contacts", 10)
    tasks.sync_connection(*json.loads(entry.args), **json.loads(entry.kwargs))

    purged.refresh_from_db()
    assert purged.deleted_at is not None
    assert Contact.objects.filter(connection=connection, deleted_at__isnull=True).count() == 249


def test_updating_a_connection_keeps_one_entry_and_follows_the_setting(fake_hub, hub_connection, settings):
    connection = hub_connection(fake_hub)
    settings.SYNC_RECONCILE_INTERVAL_DAYS = 3
    CRMConnection.objects.filter(pk=connection.pk).update(is_active=False)
    connection_create(
        organization=connection.organization, kind="hubspot", name=connection.name, config=connection.config
    )

    entries = PeriodicTask.objects.filter(name__startswith="crm-reconcile-")
    assert [(e.name, e.interval.every, e.enabled) for e in entries] == [(f"crm-reconcile-{connection.pk}", 3, False)]


def test_csv_connections_get_no_reconcile_entry(tmp_path, settings):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="csv",
        name="export",
        config={"path": "export", "mapping": basic_mapping()},
    )
    assert PeriodicTask.objects.filter(name=f"crm-sync-{connection.pk}").exists()
    assert not PeriodicTask.objects.filter(name=f"crm-reconcile-{connection.pk}").exists()
