"""The beat entries of a connection (django-celery-beat rows, editable in the admin): incremental sync,
score writeback and a periodic full sync that reconciles deletes."""

from __future__ import annotations

import json
import threading
from typing import Any

from celery import current_app
from celery.app.task import Task
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm_connectors.models import CRMConnection

# The sync-queue tasks (crm_connectors.tasks) by name: beat entries and the outbox send them by name, so the
# engines never import the task module that imports them.
SYNC_TASK_NAME = "crm_connectors.tasks.sync_connection"
WEBHOOK_TASK_NAME = "crm_connectors.tasks.process_webhook_event"
WRITEBACK_TASK_NAME = "crm_connectors.tasks.writeback_connection"
OUTBOX_SWEEP_TASK_NAME = "crm_connectors.tasks.outbox_sweep"
OUTBOX_SWEEP_ENTRY = "crm-outbox-sweep"


_DISCOVERY_LOCK = threading.Lock()


def task_by_name(name: str) -> Task:
    """The registered task `name` (one of the names above), as `delay` needs it.

    Celery's task autodiscovery is lazy: a worker runs it at start-up, but a web process (the webhook views, the
    API's sync button) never imports the task modules, so the registry lacks them until autodiscovery is run.
    """
    if name not in current_app.tasks:
        with _DISCOVERY_LOCK:  # threaded web workers: one discovers, the others wait for it to finish
            if name not in current_app.tasks:
                current_app.loader.import_default_modules()
    return current_app.tasks[name]


def _interval_entry_put(
    *,
    connection: CRMConnection,
    name: str,
    task: str,
    every: int,
    period: str,
    description: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> PeriodicTask:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    entry, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": task,
            "interval": schedule,
            "crontab": None,
            "args": json.dumps(args or []),
            "kwargs": json.dumps(kwargs or {}),
            "enabled": connection.is_active,
            "description": f"{description} of {connection.organization.slug}/{connection.name}",
        },
    )
    return entry


def connection_schedule_sync(*, connection: CRMConnection) -> PeriodicTask:
    """Beat entry `crm-sync-<id>`: an incremental sync every `sync_interval_minutes`."""
    return _interval_entry_put(
        connection=connection,
        name=f"crm-sync-{connection.pk}",
        task=SYNC_TASK_NAME,
        every=connection.sync_interval_minutes,
        period=IntervalSchedule.MINUTES,
        description="Incremental sync",
        args=[connection.pk],
    )


def connection_writeback_schedule(*, connection: CRMConnection) -> PeriodicTask:
    """Beat entry `crm-writeback-<id>`: changed scores go back to the CRM every sync interval.

    Only changed scores cost API calls, so running it at the sync interval is cheap when nothing was rescored.
    """
    return _interval_entry_put(
        connection=connection,
        name=f"crm-writeback-{connection.pk}",
        task=WRITEBACK_TASK_NAME,
        every=connection.sync_interval_minutes,
        period=IntervalSchedule.MINUTES,
        description="Score writeback",
        args=[connection.pk],
    )


def connection_reconcile_schedule(*, connection: CRMConnection) -> PeriodicTask:
    """Beat entry `crm-reconcile-<id>`: a full sync every SYNC_RECONCILE_INTERVAL_DAYS.

    Incremental runs only see what the CRM reports as changed; hard deletes (purges, GDPR erasures) are
    never reported. A full run collects the complete id sets, and the sync soft-deletes every row whose
    id vanished, so the local copy converges with the CRM at least this often."""
    return _interval_entry_put(
        connection=connection,
        name=f"crm-reconcile-{connection.pk}",
        task=SYNC_TASK_NAME,
        every=settings.SYNC_RECONCILE_INTERVAL_DAYS,
        period=IntervalSchedule.DAYS,
        description="Full sync (delete reconciliation)",
        kwargs={"connection_id": connection.pk, "full": True},
    )


def outbox_sweep_schedule_ensure() -> PeriodicTask:
    """Beat entry `crm-outbox-sweep` (one for the installation): the outbox sweep every
    OUTBOX_SWEEP_INTERVAL_SECONDS. Created or repaired after every `migrate` (crm_connectors.apps); an admin
    who disabled it keeps it disabled."""
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=settings.OUTBOX_SWEEP_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    entry, created = PeriodicTask.objects.get_or_create(
        name=OUTBOX_SWEEP_ENTRY,
        defaults={
            "task": OUTBOX_SWEEP_TASK_NAME,
            "interval": schedule,
            "description": "Send again webhook events and sync runs whose tasks never ran; resume dead sync runs",
        },
    )
    if not created and (entry.task, entry.interval_id, entry.crontab_id) != (OUTBOX_SWEEP_TASK_NAME, schedule.pk, None):
        entry.task, entry.interval, entry.crontab = OUTBOX_SWEEP_TASK_NAME, schedule, None
        entry.save(update_fields=["task", "interval", "crontab"])
    return entry
