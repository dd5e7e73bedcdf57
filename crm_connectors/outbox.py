"""The outbox of the sync queue: rows committed first, their tasks sent after, the sweeper re-sends.

The rows themselves are the outbox: a WebhookEvent still `received`, a SyncRun still `queued` (or `running`
with a stale heartbeat) is work whose task may never have reached the broker. Sending happens after the
commit; when it fails (broker down) the row says so (`enqueued_at` / `heartbeat_at` null) and the caller goes
on: the data is safe, and `outbox_sweep` (beat, every OUTBOX_SWEEP_INTERVAL_SECONDS) sends it once the broker is
back. A row whose task was sent but never ran (lost with a broker restart, dropped message) is sent again after
OUTBOX_RESEND_AFTER_SECONDS. Every task is idempotent, so a duplicate costs one no-op run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from crm_connectors.models import SyncRun, WebhookEvent
from crm_connectors.schedules import SYNC_TASK_NAME, WEBHOOK_TASK_NAME, task_by_name
from crm_connectors.selectors import sync_run_stale_list

logger = logging.getLogger(__name__)

SWEEP_BATCH = 2000  # rows per kind per sweep: a long outage drains over a few sweeps, never in one huge pass


def webhook_events_send(*, event_ids: list[int]) -> int:
    """Send the events' processing tasks; the number sent. Never raises: on a broker failure the unsent
    events are marked for the sweeper (enqueued_at null) and the failure is logged."""
    process_webhook_event = task_by_name(WEBHOOK_TASK_NAME)  # by name: the task module imports the engines
    for position, event_id in enumerate(event_ids):
        try:
            process_webhook_event.delay(event_id)
        except Exception as exc:  # noqa: BLE001 - kombu/redis/amqp errors alike: the row is the retry
            unsent = event_ids[position:]
            WebhookEvent.objects.filter(pk__in=unsent).update(enqueued_at=None)
            logger.warning("broker unavailable, %d webhook event(s) left to the outbox sweep: %s", len(unsent), exc)
            return position
    return len(event_ids)


def sync_run_send(*, sync_run_id: int, connection_id: int, full: bool) -> bool:
    """Send a queued (or resumable) run's task; False, with the run marked for the sweeper, when it failed."""
    sync_connection = task_by_name(SYNC_TASK_NAME)  # by name: the task module imports the sync engine
    try:
        sync_connection.delay(connection_id=connection_id, full=full, sync_run_id=sync_run_id)
    except Exception as exc:  # noqa: BLE001 - see webhook_events_send
        SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.Status.QUEUED).update(heartbeat_at=None)
        logger.warning("broker unavailable, sync run %s left to the outbox sweep: %s", sync_run_id, exc)
        return False
    return True


@dataclass(frozen=True)
class OutboxSweep:
    webhook_events: int  # processing tasks sent
    sync_runs: int  # queued runs sent again
    resumed_runs: int  # running runs whose heartbeat went stale, sent to resume from their cursor


def outbox_sweep(*, now: datetime | None = None) -> OutboxSweep:
    """Send again what should have run by now; see the module docstring."""
    now = now or timezone.now()
    resend_before = now - timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)
    stale_before = now - timedelta(seconds=settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS)

    event_ids = list(
        WebhookEvent.objects.filter(
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend_before), status=WebhookEvent.Status.RECEIVED
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    # Stamped before sending, so a concurrent sweep does not send them too; a failed send nulls it again.
    WebhookEvent.objects.filter(pk__in=event_ids).update(enqueued_at=now)
    events_sent = webhook_events_send(event_ids=event_ids)

    runs_sent = resumed = 0
    queued = SyncRun.objects.filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=resend_before), status=SyncRun.Status.QUEUED
    )
    for run_id, connection_id, mode in queued.order_by("pk").values_list("pk", "connection_id", "mode")[:SWEEP_BATCH]:
        SyncRun.objects.filter(pk=run_id).update(heartbeat_at=now)
        if not sync_run_send(sync_run_id=run_id, connection_id=connection_id, full=mode == SyncRun.Mode.FULL):
            return OutboxSweep(webhook_events=events_sent, sync_runs=runs_sent, resumed_runs=resumed)
        runs_sent += 1

    for run_id, connection_id, mode in sync_run_stale_list(stale_before=stale_before).values_list(
        "pk", "connection_id", "mode"
    )[:SWEEP_BATCH]:
        # Back to `queued` with a fresh heartbeat: the resume task finds it claimable (its started_at says it
        # resumes, keeping its counts and cursor), and the next sweeps leave it alone while that task waits.
        claimed = (
            sync_run_stale_list(stale_before=stale_before)
            .filter(pk=run_id)
            .update(status=SyncRun.Status.QUEUED, heartbeat_at=now)
        )
        if not claimed:
            continue  # it heartbeat (or finished) meanwhile
        logger.warning("sync run %s stopped heartbeating: resuming it from its cursor", run_id)
        if not sync_run_send(sync_run_id=run_id, connection_id=connection_id, full=mode == SyncRun.Mode.FULL):
            break
        resumed += 1
    return OutboxSweep(webhook_events=events_sent, sync_runs=runs_sent, resumed_runs=resumed)
