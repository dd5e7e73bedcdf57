"""The whole pipeline through a real Celery worker process on the configured broker.

CSV export -> sync task (sync queue) -> training task and scoring task (gpu queue) -> REST API.
In CI the broker is Redis and the database PostgreSQL; locally the embedded filesystem broker and SQLite.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection
from rest_framework.test import APIClient

from crm_connectors.models import SyncRun
from crm_connectors.services import connection_create, sync_run_start
from ml.models import ModelVersion, Prediction, TrainingRun
from ml.training_services import training_run_start
from salesai.core.models import Contact
from salesai.core.services import organization_create
from salesai.demo.generator import demo_now, generate_demo_crm, write_demo_csvs
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 300  # generous: a loaded 2-core CI machine trains slowly; this is a deadline, not a benchmark


def _database_url_for_worker() -> str:
    db = db_connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(tmp_path: Path):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "SALESAI_VAR_DIR": str(settings.VAR_DIR),
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "CSV_IMPORT_ROOTS": ",".join(settings.CSV_IMPORT_ROOTS),
        "OMP_NUM_THREADS": "1",
        # 600 synthetic contacts and 8 epochs: the gate's "beat the baselines" rule is tested in tests/ml;
        # here the pipeline is the point, so the first model is promoted whatever the baselines score.
        "ML_GATE_REQUIRE_BEATS_BASELINE": "false",
        # Rescoring is debounced (ml.scoring_services.scoring_enqueue); a short window keeps this test quick.
        "ML_RESCORE_DEBOUNCE_SECONDS": "1",
    }
    queues = ",".join([settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_SYNC, settings.CELERY_QUEUE_GPU])
    celery = [sys.executable, "-m", "celery", "-A", "salesai"]
    # Leftover messages from an earlier run would point at rows that no longer exist.
    subprocess.run([*celery, "purge", "-f", "-Q", queues], cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                *celery,
                "worker",
                "-Q",
                queues,
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--pool",
                "solo",
                "-l",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker, log_path
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _wait_for(predicate, *, what: str, worker, log_path: Path):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker.poll() is not None:
            pytest.fail(
                f"worker exited with {worker.returncode} while waiting for {what}:\n{log_path.read_text()[-4000:]}"
            )
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; worker log tail:\n{log_path.read_text()[-4000:]}")


def test_csv_import_training_scoring_and_api_through_a_real_worker(tmp_path, settings, celery_worker_process):
    worker, log_path = celery_worker_process
    csv_folder = Path(settings.CSV_IMPORT_ROOTS[0]) / "e2e" / "crm"  # the e2e organisation's import folder
    crm = generate_demo_crm(
        seed=11, companies=80, contacts=600, deals=200, activities=2500, now=demo_now(day=date(2026, 6, 1))
    )
    write_demo_csvs(crm=crm, folder=csv_folder)

    org = organization_create(slug="e2e", name="E2E Inc", admin_username="e2e-admin").organization
    connection = connection_create(
        organization=org,
        kind="csv",
        name="export",
        config={"path": str(csv_folder), "mapping_file": str(csv_folder / "mapping.yaml")},
    )

    sync_run = sync_run_start(connection_id=connection.id, full=True)
    _wait_for(
        lambda: SyncRun.objects.filter(pk=sync_run.pk, status__in=["succeeded", "partial", "failed"]).exists(),
        what="the sync run",
        worker=worker,
        log_path=log_path,
    )
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED, sync_run.error_summary
    exported = (crm.companies, crm.contacts, crm.deals, crm.history_deals, crm.activities, crm.deal_notes)
    assert sync_run.created == sum(len(rows) for rows in exported)
    assert Contact.objects.filter(organization=org).count() == 600

    training_run = training_run_start(organization_id=org.id, params={"epochs": 8, "baseline_lightgbm_configs": 2})
    _wait_for(
        lambda: TrainingRun.objects.filter(pk=training_run.pk, status__in=["succeeded", "failed"]).exists(),
        what="the training run",
        worker=worker,
        log_path=log_path,
    )
    training_run.refresh_from_db()
    assert training_run.status == TrainingRun.Status.SUCCEEDED, training_run.error
    champion = ModelVersion.objects.get(organization=org, status=ModelVersion.Status.CHAMPION)
    assert 0.0 <= champion.metrics["roc_auc"] <= 1.0

    # Scoring is enqueued by the training run for every open lead.
    open_leads = Contact.objects.filter(organization=org, converted_at__isnull=True, deleted_at__isnull=True).count()
    _wait_for(
        lambda: Prediction.objects.filter(organization=org, is_current=True).count() == open_leads,
        what="scores for every open lead",
        worker=worker,
        log_path=log_path,
    )

    user = UserFactory()
    org.memberships.create(user=user, role="manager")
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/contacts/", {"ordering": "-current_score", "page_size": 5})
    assert response.status_code == 200, response.content
    top = response.json()["results"][0]
    assert top["current_score"] is not None
    scores = [row["current_score"] for row in response.json()["results"]]
    assert scores == sorted(scores, reverse=True)
    detail = client.get(f"/api/v1/contacts/{top['id']}/").json()
    prediction = detail["current_prediction"]
    assert prediction["model_version"]["id"] == champion.id
    assert prediction["top_factors"], detail
