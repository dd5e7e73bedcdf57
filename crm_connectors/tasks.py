"""Celery tasks of the sync queue (routed by `CELERY_TASK_ROUTES`); thin wrappers over the sync engine."""

from celery import shared_task

from crm_connectors.models import SyncRun
from crm_connectors.sync import FINISHED_STATUSES, connection_sync


@shared_task
def sync_connection(connection_id: int, full: bool = False, sync_run_id: int | None = None) -> int:
    """Sync one connection; returns the SyncRun id. A redelivered task whose run finished does nothing."""
    if sync_run_id is not None:
        status = SyncRun.objects.filter(pk=sync_run_id).values_list("status", flat=True).first()
        if status is None or status in FINISHED_STATUSES:
            return sync_run_id
    return connection_sync(connection_id=connection_id, full=full, sync_run_id=sync_run_id).pk
