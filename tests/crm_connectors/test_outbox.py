"""The outbox sweep for sync runs: requests whose task never reached the broker, and runs whose worker died.

Reproduces the stuck-run finding: a worker killed mid-sync left its run `running`, and every later sync was
skipped for hours unless someone resumed it by hand.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm_connectors.models import SyncRun
from crm_connectors.outbox import outbox_sweep
from crm_connectors.services import connection_create, sync_run_start
from crm_connectors.sync import connection_sync
from salesai.core.models import Company
from tests.crm_connectors.broker import broker_down, private_sync_queue
from tests.crm_connectors.registered_fakes import PagedTestConnector
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paged_connection(db, monkeypatch):
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    return connection_create(organization=OrganizationFactory(), kind="test-paged", name="paged", config={"pages": 4})


def test_a_sync_requested_while_the_broker_is_down_is_sent_by_the_sweep(
    paged_connection, django_capture_on_commit_callbacks
):
    with private_sync_queue() as queue:
        with broker_down(), django_capture_on_commit_callbacks(execute=True):
            run = sync_run_start(connection_id=paged_connection.pk, full=True)  # no exception: the run is stored
        run.refresh_from_db()
        assert (run.status, run.heartbeat_at) == ("queued", None)
        assert queue.take() == []

        assert outbox_sweep().sync_runs == 1
        assert queue.run_all() == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.mode, run.created) == ("succeeded", "full", 8)


def test_the_sweep_resumes_a_run_whose_worker_died_from_its_cursor(paged_connection, monkeypatch, settings):
    settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS = 300
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", 2)
    monkeypatch.setattr(PagedTestConnector, "failure", SystemExit)  # not caught: like kill -9
    with pytest.raises(SystemExit):
        connection_sync(connection_id=paged_connection.pk)
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    run = SyncRun.objects.get()
    assert run.status == "running" and Company.objects.count() == 4

    with private_sync_queue() as queue:
        assert outbox_sweep().resumed_runs == 0  # heartbeat fresh: maybe alive, left alone
        assert queue.take() == []

        later = timezone.now() + timedelta(seconds=301)
        swept = outbox_sweep(now=later)
        assert swept.resumed_runs == 1
        assert outbox_sweep(now=later).resumed_runs == 0  # its resume task is queued: not sent twice
        assert queue.run_all() == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.created, run.updated, run.unchanged) == ("succeeded", 8, 0, 0)
    assert Company.objects.count() == 8 and Company.objects.values("external_id").distinct().count() == 8


def test_a_queued_run_sent_long_ago_is_sent_again_and_a_duplicate_is_harmless(paged_connection, settings):
    settings.OUTBOX_RESEND_AFTER_SECONDS = 300
    run = SyncRun.objects.create(connection=paged_connection, heartbeat_at=timezone.now() - timedelta(seconds=301))
    SyncRun.objects.create(connection=paged_connection, heartbeat_at=timezone.now())  # just sent: left alone
    with private_sync_queue() as queue:
        assert outbox_sweep().sync_runs == 1
        taken = queue.take()
        assert [kwargs["sync_run_id"] for _, _, kwargs in taken] == [run.pk]
        from crm_connectors.tasks import sync_connection

        assert sync_connection(**taken[0][2]) == run.pk
        assert sync_connection(**taken[0][2]) == run.pk  # the first send arriving late: a no-op
    run.refresh_from_db()
    assert run.status == "succeeded" and Company.objects.count() == 8
