"""kill -9 of a real Celery worker in the middle of a sync: the run is resumed from its cursor by the outbox
sweep on the next worker, with nothing lost or written twice (the stuck-run finding, reproduced for real)."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from crm_connectors.models import SyncRun
from crm_connectors.outbox import outbox_sweep
from crm_connectors.services import connection_create, sync_run_start
from salesai.core.models import Company
from tests.crm_connectors.broker import private_sync_queue
from tests.crm_connectors.conftest import COMPANY_COLUMNS, write_csv
from tests.e2e.test_worker_pipeline import REPO_ROOT, _database_url_for_worker
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COMPANIES = 3000


def _worker(queue: str, log: Path, csv_root: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "SALESAI_VAR_DIR": str(settings.VAR_DIR),
        "CSV_IMPORT_ROOTS": str(csv_root),
        "CELERY_QUEUE_SYNC": queue,
        "SYNC_BATCH_RECORDS": "10",  # one commit per 10-record page: the kill lands between two of them
        "OMP_NUM_THREADS": "1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "salesai",
                "worker",
                "-Q",
                queue,
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "-l",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(predicate, *, what: str, log: Path, seconds: float = 240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; worker log tail:\n{log.read_text()[-3000:]}")


def test_a_run_whose_worker_was_killed_is_resumed_from_its_cursor(tmp_path, settings):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    organization = OrganizationFactory()
    folder = tmp_path / organization.slug  # a connection reads only its organisation's folder
    folder.mkdir()
    write_csv(
        folder / "companies.csv",
        ["Company ID", "Company Name", "Employees"],
        [[f"C{i}", f"Company {i}", str(i)] for i in range(COMPANIES)],
    )
    mapping = {"objects": {"companies": {"file": "companies.csv", "columns": COMPANY_COLUMNS}}}
    connection = connection_create(
        organization=organization,
        kind="csv",
        name="export",
        config={"path": str(folder), "mapping": mapping, "page_size": 10},  # many small commits
    )
    log = tmp_path / "worker.log"
    with private_sync_queue() as queue:
        worker = _worker(queue.name, log, tmp_path)
        try:
            run = sync_run_start(connection_id=connection.pk, full=True)
            _wait_for(
                lambda: SyncRun.objects.filter(pk=run.pk, created__gte=50).exists(), what="the first pages", log=log
            )
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
        run.refresh_from_db()
        assert run.status == SyncRun.Status.RUNNING, "killed mid-sync: nobody is left to finish the run"
        assert 0 < run.created < COMPANIES
        assert outbox_sweep().resumed_runs == 0  # its heartbeat is recent: it might still be alive

        stale = timezone.now() + timedelta(seconds=settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS + 1)
        assert outbox_sweep(now=stale).resumed_runs == 1
        worker = _worker(queue.name, log, tmp_path)
        try:
            _wait_for(
                lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "partial", "failed"]).exists(),
                what="the resumed run",
                log=log,
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert (run.created, run.updated) == (COMPANIES, 0)  # each company written once across both workers
    assert Company.objects.filter(connection=connection).count() == COMPANIES
    assert SyncRun.objects.filter(connection=connection).count() == 1
