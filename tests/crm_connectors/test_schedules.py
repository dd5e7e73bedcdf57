"""`task_by_name` in a process that never imported the task modules, as a gunicorn web process is: the webhook
views and the API enqueue sync-queue tasks by name, and Celery only autodiscovers tasks when a worker starts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import django
django.setup()
from celery import current_app
from crm_connectors import schedules
names = (schedules.SYNC_TASK_NAME, schedules.WEBHOOK_TASK_NAME, schedules.WRITEBACK_TASK_NAME,
         schedules.OUTBOX_SWEEP_TASK_NAME)
assert not any(name in current_app.tasks for name in names), "the probe must start without the task modules"
print(",".join(schedules.task_by_name(name).name for name in names))
"""


def test_a_web_process_finds_the_sync_queue_tasks_by_name(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "salesai.settings",
        "SALESAI_ENV": "local",
        "SALESAI_VAR_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)  # no query is made; the embedded defaults keep the probe self-contained
    env.pop("CELERY_BROKER_URL", None)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == ",".join(
        (
            "crm_connectors.tasks.sync_connection",
            "crm_connectors.tasks.process_webhook_event",
            "crm_connectors.tasks.writeback_connection",
            "crm_connectors.tasks.outbox_sweep",
        )
    )
