"""Reads that only the manager pages need."""

from django.db.models import QuerySet

from crm_connectors.models import SyncRun


def sync_run_recent_list(*, organization_id: int, limit: int = 10) -> QuerySet[SyncRun]:
    return (
        SyncRun.objects.filter(connection__organization_id=organization_id)
        .select_related("connection")
        .order_by("-queued_at", "-id")[:limit]
    )
