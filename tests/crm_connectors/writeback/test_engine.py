"""The engine's choices independent of a CRM: what is sent, what is skipped, what is refused."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm_connectors.base import ConnectorError
from crm_connectors.models import ScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.tasks import writeback_connection
from crm_connectors.writeback import connection_writeback
from ml.models import Task
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.factories import ContactFactory, CRMConnectionFactory, OrganizationFactory, PredictionFactory


@pytest.fixture
def hub():
    with FakeHubSpot(contacts=10) as fake:
        yield fake


def hub_connection(hub: FakeHubSpot, organization=None, name: str = "hubspot"):
    return connection_create(
        organization=organization or OrganizationFactory(),
        kind="hubspot",
        name=name,
        config={"base_url": hub.url, "requests_per_second": 0, "search_requests_per_second": 0},
        credentials={"token": hub.token},
    )


def sent_ids(hub: FakeHubSpot) -> list[str]:
    return [item["id"] for req in hub.requests if req.path.endswith("/batch/update") for item in req.body["inputs"]]


def test_only_current_scores_of_live_contacts_of_this_connection_are_sent(db, hub, scored):
    connection = hub_connection(hub)
    other = hub_connection(hub, organization=connection.organization, name="second portal")
    scored(connection, {"1": 80})
    scored(other, {"2": 70})  # another connection's contact
    deleted = scored(connection, {"3": 60})[0]
    deleted.deleted_at = timezone.now()
    deleted.save()
    ContactFactory(organization=connection.organization, connection=connection, external_id="4")  # never scored
    stale = scored(connection, {"5": 50})[0]
    stale.predictions.update(is_current=False)  # only history left
    churn_only = ContactFactory(organization=connection.organization, connection=connection, external_id="6")
    PredictionFactory(organization=connection.organization, contact=churn_only, task=Task.CHURN, score=90)

    summary = connection_writeback(connection_id=connection.pk)

    assert sent_ids(hub) == ["1"]
    assert (summary.considered, summary.written) == (1, 1)
    assert list(ScoreWrite.objects.values_list("connection_id", "external_id")) == [(connection.pk, "1")]


def test_csv_connection_refuses_writeback_clearly(db):
    connection = CRMConnectionFactory(kind="csv")
    with pytest.raises(ConnectorError, match="CSV.*cannot take scores back"):
        connection_writeback(connection_id=connection.pk)
    with pytest.raises(CommandError, match="cannot take scores back"):
        call_command("crm_writeback", str(connection.pk), stdout=StringIO())


def test_command_prints_a_summary(db, hub, scored):
    connection = hub_connection(hub)
    scored(connection, {"1": 80, "2": 30})
    out = StringIO()
    call_command("crm_writeback", str(connection.pk), stdout=out)
    assert f"Writeback of connection {connection.pk}: considered=2 written=2 unchanged=0 failed=0" in out.getvalue()

    out = StringIO()
    call_command("crm_writeback", str(connection.pk), stdout=out)
    assert "written=0 unchanged=2" in out.getvalue()


def test_command_reports_record_failures_and_unknown_connection(db, hub, scored):
    connection = hub_connection(hub)
    scored(connection, {"1": 80, "777": 30})  # 777 is not in HubSpot
    out = StringIO()
    call_command("crm_writeback", str(connection.pk), stdout=out)
    assert "failed=1" in out.getvalue() and "777: OBJECT_NOT_FOUND" in out.getvalue()
    with pytest.raises(CommandError, match="no connection"):
        call_command("crm_writeback", "999999", stdout=StringIO())


def test_task_runs_the_engine(db, hub, scored):
    connection = hub_connection(hub)
    scored(connection, {"1": 80})
    assert writeback_connection(connection.pk) == {
        "written": 1,
        "failed": 0,
        "unchanged": 0,
        "error": "",
        "churn": {"written": 0, "failed": 0, "unchanged": 0, "error": ""},
        "deals": {"written": 0, "failed": 0, "unchanged": 0, "error": ""},
    }
    assert writeback_connection(connection.pk)["unchanged"] == 1  # a redelivered task writes nothing twice


def test_connections_that_take_scores_get_a_writeback_schedule(db, hub, tmp_path, settings):
    connection = hub_connection(hub)
    task = PeriodicTask.objects.get(name=f"crm-writeback-{connection.pk}")
    assert task.task == "crm_connectors.tasks.writeback_connection"
    assert task.args == f"[{connection.pk}]" and task.interval.every == connection.sync_interval_minutes

    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    csv_connection = connection_create(
        organization=OrganizationFactory(),
        kind="csv",
        name="export",
        config={"path": "export", "mapping": {"objects": {}}},
    )
    assert not PeriodicTask.objects.filter(name=f"crm-writeback-{csv_connection.pk}").exists()
