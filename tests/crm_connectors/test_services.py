import json

import pytest
from django.db import connection as db_connection
from django_celery_beat.models import PeriodicTask

from crm_connectors import tasks
from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create, sync_run_start
from tests.crm_connectors.conftest import CSV_ORG_SLUG, basic_mapping
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_connection_create_schedules_a_beat_task_and_updates_it(csv_root, settings):
    org = OrganizationFactory(slug=CSV_ORG_SLUG)
    connection = connection_create(
        organization=org, kind="csv", name="export", config={"path": str(csv_root), "mapping": basic_mapping()}
    )
    task = PeriodicTask.objects.get(name=f"crm-sync-{connection.pk}")
    assert task.task == "crm_connectors.tasks.sync_connection"
    assert json.loads(task.args) == [connection.pk]
    assert task.enabled and task.interval.every == settings.SYNC_DEFAULT_INTERVAL_MINUTES
    assert task.interval.period == "minutes"

    again = connection_create(
        organization=org,
        kind="csv",
        name="export",
        config={"path": str(csv_root), "mapping_file": "m.yaml"},
        sync_interval_minutes=15,
    )
    assert again.pk == connection.pk and again.config["mapping_file"] == "m.yaml"
    assert PeriodicTask.objects.filter(name__startswith="crm-sync-").count() == 1
    assert PeriodicTask.objects.get(name=f"crm-sync-{connection.pk}").interval.every == 15


@pytest.mark.parametrize(
    "kind, config, message",
    [
        ("nosuchcrm", {}, "unknown connector"),
        ("csv", {"mapping": {}}, "'path' is a required property"),
        ("csv", {"path": "x"}, "invalid csv config"),
        ("csv", {"path": "x", "mapping": {}, "colour": 1}, "Additional properties"),
    ],
)
def test_connection_create_rejects_unknown_kind_and_bad_config(kind, config, message):
    with pytest.raises(ConnectorError, match=message):
        connection_create(organization=OrganizationFactory(), kind=kind, name="x", config=config)
    assert not CRMConnection.objects.exists()


def test_connection_create_refuses_to_change_kind(csv_root):
    org = OrganizationFactory(slug=CSV_ORG_SLUG)
    connection_create(organization=org, kind="csv", name="crm", config={"path": ".", "mapping": {}})
    with pytest.raises(ConnectorError, match="already exists"):
        connection_create(organization=org, kind="test-paged", name="crm", config={})


def test_credentials_are_encrypted_at_rest_and_kept_on_update():
    org = OrganizationFactory()
    connection = connection_create(
        organization=org,
        kind="csv",
        name="crm",
        config={"path": ".", "mapping": {}},
        credentials={"token": "pat-na1-very-secret"},
    )
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM crm_connectors_crmconnection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert "very-secret" not in raw and "token" not in raw
    assert CRMConnection.objects.get(pk=connection.pk).credentials == {"token": "pat-na1-very-secret"}

    connection_create(organization=org, kind="csv", name="crm", config={"path": ".", "mapping": {}})
    assert CRMConnection.objects.get(pk=connection.pk).credentials == {"token": "pat-na1-very-secret"}


def test_sync_run_start_queues_a_run_and_enqueues_after_commit(
    csv_connection, monkeypatch, django_capture_on_commit_callbacks
):
    connection = csv_connection()
    sent = []
    monkeypatch.setattr(tasks.sync_connection, "delay", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = sync_run_start(connection_id=connection.pk, full=True)
    assert run.status == SyncRun.Status.QUEUED and run.mode == SyncRun.Mode.FULL
    assert sent == [], "nothing is enqueued before the transaction commits"
    for callback in callbacks:
        callback()
    assert sent == [{"connection_id": connection.pk, "full": True, "sync_run_id": run.pk}]
