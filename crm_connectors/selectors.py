"""Read-side queries for CRM connections and sync runs."""

from datetime import datetime

from django.db.models import Q, QuerySet

from crm_connectors.models import CRMConnection, SyncRun
from salesai.core.models import Organization


def connection_list(*, organization: Organization) -> QuerySet[CRMConnection]:
    return CRMConnection.objects.filter(organization=organization).order_by("name")


def sync_run_list(*, connection_id: int) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(connection_id=connection_id).order_by("-queued_at", "-pk")


def sync_run_latest(*, connection_id: int) -> SyncRun | None:
    return sync_run_list(connection_id=connection_id).first()


def sync_run_stale_list(*, stale_before: datetime) -> QuerySet[SyncRun]:
    """Running runs whose worker stopped reporting: no heartbeat since `stale_before` (runs from before
    heartbeats existed count from their start)."""
    return SyncRun.objects.filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before),
        status=SyncRun.Status.RUNNING,
    )


def sync_run_report(*, sync_run: SyncRun, max_errors: int = 10) -> str:
    """A plain-text report of a run: status, counts and its first row errors."""
    lines = [
        f"SyncRun {sync_run.pk} ({sync_run.mode}): {sync_run.status}",
        f"created={sync_run.created} updated={sync_run.updated} unchanged={sync_run.unchanged} "
        f"deleted={sync_run.deleted} failed={sync_run.failed}",
    ]
    if sync_run.error_summary:
        lines.append(sync_run.error_summary)
    for error in sync_run.errors[:max_errors]:
        where = " ".join(
            part
            for part in (
                error.get("object") or "",
                f"line {error['line']}" if error.get("line") else "",
                f"column {error['column']!r}" if error.get("column") else "",
                f"id {error['external_id']!r}" if error.get("external_id") else "",
            )
            if part
        )
        lines.append(f"  - {where}: {error.get('reason')}")
    if sync_run.failed > max_errors:
        lines.append(f"  ... and {sync_run.failed - max_errors} more")
    return "\n".join(lines)
