import pytest

from crm_connectors.models import SyncRun
from crm_connectors.tasks import sync_connection
from salesai.core.models import Company
from tests.crm_connectors.conftest import basic_mapping

COMPANIES_ONLY = {"objects": {"companies": basic_mapping()["objects"]["companies"]}}

pytestmark = pytest.mark.django_db


def test_task_runs_the_queued_run_and_a_redelivery_is_a_no_op(csv_connection, write_companies):
    write_companies([["C1", "Acme", "", ""]])
    connection = csv_connection(COMPANIES_ONLY)
    run = SyncRun.objects.create(connection=connection)

    assert sync_connection(connection.pk, sync_run_id=run.pk) == run.pk
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1

    Company.objects.all().delete()
    assert sync_connection(connection.pk, sync_run_id=run.pk) == run.pk
    assert Company.objects.count() == 0, "a finished run is not executed again"
    assert SyncRun.objects.count() == 1


def test_task_without_run_id_creates_its_own_run(csv_connection, write_companies):
    write_companies([["C1", "Acme", "", ""]])
    run_id = sync_connection(csv_connection(COMPANIES_ONLY).pk)
    assert SyncRun.objects.get(pk=run_id).status == SyncRun.Status.SUCCEEDED
