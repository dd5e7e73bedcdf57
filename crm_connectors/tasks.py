"""Celery tasks of the sync queue (routed by `CELERY_TASK_ROUTES`); thin wrappers over the sync engine."""

from celery import shared_task

from crm_connectors.deal_sync import deal_reference_wanted
from crm_connectors.models import SyncRun
from crm_connectors.sync import FINISHED_STATUSES, connection_sync


@shared_task
def sync_connection(connection_id: int, full: bool = False, sync_run_id: int | None = None) -> int:
    """Sync one connection; returns the SyncRun id. A redelivered task whose run finished does nothing."""
    if sync_run_id is not None:
        status = SyncRun.objects.filter(pk=sync_run_id).values_list("status", flat=True).first()
        if status is None or status in FINISHED_STATUSES:
            return sync_run_id
    run = connection_sync(connection_id=connection_id, full=full, sync_run_id=sync_run_id)
    if run.status != SyncRun.Status.FAILED and deal_reference_wanted(connection_id=connection_id):
        sync_deal_reference.delay(connection_id=connection_id)  # stages and history of the deals just synced
    return run.pk


@shared_task
def sync_deal_reference(connection_id: int) -> dict:
    """Pipeline stages and the CRM's deal history for deals not backfilled yet (crm_connectors.deal_sync);
    idempotent: a deal is backfilled once."""
    from crm_connectors.deal_sync import deal_reference_sync

    summary = deal_reference_sync(connection_id=connection_id)
    return {"stages": summary.stages, "deals_backfilled": summary.deals_backfilled, "rows": summary.history_rows}


@shared_task
def writeback_connection(connection_id: int) -> dict:
    """Write the connection's changed lead scores and churn risks into its CRM; idempotent (unchanged values
    are skipped)."""
    from crm_connectors.writeback import connection_writeback  # appended task: its import kept local

    summary = connection_writeback(connection_id=connection_id)
    churn = summary.churn
    return {
        "written": summary.written,
        "failed": summary.failed,
        "unchanged": summary.unchanged,
        "error": summary.error,
        "churn": {"written": churn.written, "failed": churn.failed, "unchanged": churn.unchanged, "error": churn.error},
        "deals": {
            "written": summary.deals.written,
            "failed": summary.deals.failed,
            "unchanged": summary.deals.unchanged,
            "error": summary.deals.error,
        },
    }


@shared_task
def process_webhook_event(webhook_event_id: int) -> str:
    """Process one stored webhook event; a redelivered task finds it processed and does nothing."""
    from crm_connectors.models import WebhookEvent
    from crm_connectors.webhook_processing import webhook_event_process

    if not WebhookEvent.objects.filter(pk=webhook_event_id).exists():
        return "missing"  # its connection was deleted since: nothing to do
    return webhook_event_process(event_id=webhook_event_id).status


@shared_task
def outbox_sweep() -> dict:
    """Beat, every OUTBOX_SWEEP_INTERVAL_SECONDS: send again the webhook events and sync runs whose tasks never
    ran, and resume runs whose worker died (crm_connectors.outbox). Safe to run twice: the tasks are idempotent."""
    from crm_connectors.outbox import outbox_sweep as sweep

    swept = sweep()
    return {"webhook_events": swept.webhook_events, "sync_runs": swept.sync_runs, "resumed_runs": swept.resumed_runs}
