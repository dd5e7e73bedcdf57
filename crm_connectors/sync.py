"""The sync engine: connector pages -> core bulk upserts, one transaction per page.

Each page's rows, its soft deletes and the cursor that describes it are committed together, so a crash
resumes from the last committed page and a re-run creates no duplicates. Object types run in
`OBJECT_TYPES` order because children reference parents synced before them.

Only one run per connection works at a time: a run claims the connection inside a transaction that locks
the connection row (PostgreSQL) or the whole database (SQLite's IMMEDIATE transactions), so the check
"is another run of this connection running?" and the claim cannot interleave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from crm_connectors.base import OBJECT_TYPES, ChangePage, Connector, ConnectorError
from crm_connectors.connections import connector_open
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.page_batch import pages_batched
from crm_connectors.prefetch import ConsumerRelay, pages_prefetched
from crm_connectors.reconcile import ListedIds
from crm_connectors.selectors import sync_run_stale_list
from crm_connectors.signals import records_changed_announce
from salesai.core.models import Activity, Company, Contact, Deal, SyncedRecord
from salesai.core.services import (
    UpsertResult,
    activity_bulk_upsert,
    company_bulk_upsert,
    contact_bulk_upsert,
    deal_bulk_upsert,
    records_reconcile,
    records_soft_delete,
)

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
# Changed ids are announced (-> rescoring) in chunks of this many, so a run never holds all of them.
ANNOUNCE_CHUNK_IDS = 5_000
# While waiting on the CRM for the next batch, a run heartbeats this often (pages heartbeat as they commit).
HEARTBEAT_WAIT_SECONDS = 30.0
FINISHED_STATUSES = frozenset({SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED})

Upsert = Callable[..., UpsertResult]
_WRITERS: dict[str, tuple[type[SyncedRecord], Upsert]] = {
    "companies": (Company, company_bulk_upsert),
    "contacts": (Contact, contact_bulk_upsert),
    "deals": (Deal, deal_bulk_upsert),
    "activities": (Activity, activity_bulk_upsert),
}


@dataclass
class _Progress:
    """Counts and errors of one run; written to the SyncRun with every committed page."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed_by_type: dict[str, int] = field(default_factory=dict)
    contact_ids: set[int] = field(default_factory=set)
    company_ids: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, run: SyncRun) -> _Progress:
        # A resumed run (same SyncRun redelivered after a crash) keeps what its committed pages counted.
        return cls(run.created, run.updated, run.unchanged, run.deleted, run.failed, list(run.errors))

    def add_errors(self, object_type: str, errors: list[dict[str, Any]]) -> None:
        self.failed += len(errors)
        self.failed_by_type[object_type] = self.failed_by_type.get(object_type, 0) + len(errors)
        room = MAX_STORED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])

    def write_to(self, run: SyncRun) -> None:
        run.created, run.updated, run.unchanged = self.created, self.updated, self.unchanged
        run.deleted, run.failed, run.errors = self.deleted, self.failed, self.errors


def connection_sync(*, connection_id: int, full: bool = False, sync_run_id: int | None = None) -> SyncRun:
    """Run a sync of the connection now and return its finished SyncRun.

    `sync_run_id` names a queued run to execute (or a running one to resume after a crash); a run that
    already finished is returned untouched. `full` ignores the saved cursors. Row errors make the run
    `partial`; a connection-level error makes it `failed` (committed pages and their cursors are kept).
    """
    run, proceed = _run_claim(connection_id=connection_id, full=full, sync_run_id=sync_run_id)
    if not proceed:
        return run
    progress = _Progress.of(run)
    connection = CRMConnection.objects.select_related("organization").get(pk=connection_id)
    try:
        # Pages are read ahead in a thread (crm_connectors.prefetch); the relay runs credential saves on this one.
        relay = ConsumerRelay()
        with connector_open(connection, run_saves=relay.run) as connector:
            connector.check_credentials()
            for object_type in OBJECT_TYPES:
                _object_type_sync(connection, connector, object_type, run, progress, relay)
    except Exception as exc:  # noqa: BLE001 - any failure ends the run as failed, with its reason kept
        if not isinstance(exc, ConnectorError):
            logger.exception("sync of connection %s failed", connection_id)
        _run_finish(run, progress, status=SyncRun.Status.FAILED, summary=f"{type(exc).__name__}: {exc}")
    else:
        status = SyncRun.Status.PARTIAL if progress.failed else SyncRun.Status.SUCCEEDED
        _run_finish(run, progress, status=status, summary=_error_summary(progress))
        CRMConnection.objects.filter(pk=connection_id).update(last_synced_at=run.finished_at)
    _changes_announce(connection, run, progress, final=True)
    return run


def _run_claim(*, connection_id: int, full: bool, sync_run_id: int | None) -> tuple[SyncRun, bool]:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS)
    with transaction.atomic():
        connection = CRMConnection.objects.select_for_update().get(pk=connection_id)
        stale = sync_run_stale_list(stale_before=stale_before).filter(connection=connection)
        if sync_run_id is None:
            # A run whose worker died (kill -9, lost host) is resumed from its cursor, not skipped around.
            run = stale.order_by("pk").first()
            if run is None:
                run = SyncRun.objects.create(connection=connection, mode=_mode(full))
            else:
                logger.warning("sync run %s stopped heartbeating: resuming it from its cursor", run.pk)
                full = False  # it resumes as it was started (a full run stays full)
        else:
            run = SyncRun.objects.select_for_update().get(pk=sync_run_id, connection=connection)
            if run.status in FINISHED_STATUSES:
                return run, False
            if run.status == SyncRun.Status.RUNNING and not stale.filter(pk=run.pk).exists():
                # Alive on another worker (a redelivered message while the first still runs): leave it be;
                # if that worker dies, its heartbeat goes stale and the outbox sweep resumes the run.
                return run, False
        # A run started before (crashed, or sent again by the outbox sweep) resumes: its counts and cursor stay.
        resuming = run.started_at is not None
        full = full or run.mode == SyncRun.Mode.FULL

        others = SyncRun.objects.filter(connection=connection, status=SyncRun.Status.RUNNING).exclude(pk=run.pk)
        others.filter(pk__in=stale.values("pk")).update(
            status=SyncRun.Status.FAILED, finished_at=now, error_summary="abandoned: its worker stopped reporting"
        )
        busy = others.first()
        if busy is not None:
            if resuming:  # never fail a resumable run for a live one: the sweep sends it again later
                return run, False
            run.status = SyncRun.Status.FAILED
            run.finished_at = now
            run.error_summary = f"skipped: sync run {busy.pk} of this connection is still running"
            run.save(update_fields=["status", "finished_at", "error_summary"])
            return run, False

        if not resuming:
            run.cursor_before = connection.cursor
            run.started_at = now
            if full:
                # A full run starts from empty cursors but then saves them page by page like any run,
                # so a crash mid-way resumes instead of starting over.
                connection.cursor = {}
                connection.save(update_fields=["cursor"])
        run.mode = _mode(full)
        run.status = SyncRun.Status.RUNNING
        run.heartbeat_at = now
        run.save(update_fields=["mode", "status", "started_at", "cursor_before", "heartbeat_at"])
    return run, True


def _mode(full: bool) -> str:
    return SyncRun.Mode.FULL if full else SyncRun.Mode.INCREMENTAL


def _object_type_sync(
    connection: CRMConnection,
    connector: Connector,
    object_type: str,
    run: SyncRun,
    progress: _Progress,
    relay: ConsumerRelay,
) -> None:
    model, upsert = _WRITERS[object_type]
    cursor = dict(connection.cursor.get(object_type) or {})
    # An empty cursor means "from the beginning": a full run, a first run, or a reset.
    full = run.mode == SyncRun.Mode.FULL and not cursor
    pages = connector.iter_changes(object_type=object_type, cursor=cursor, full=full)
    listed = ListedIds(connection_id=connection.pk, object_type=object_type)
    listed.reset()  # ids of an earlier run in this database session must not count as listed now
    batches = pages_batched(_pages_checked(pages, connection, object_type), max_records=settings.SYNC_BATCH_RECORDS)
    # The next batch is fetched and mapped in a thread while this one is written (never touches the database).
    batches = pages_prefetched(  # a generator either way: closed below
        batches,
        depth=settings.SYNC_PREFETCH_BATCHES,
        relay=relay,
        name=f"sync-{connection.pk}-{object_type}",
        # A slow CRM (rate limits, big pages) must not make a live run look dead.
        on_wait=lambda: _heartbeat(run),
        wait_seconds=HEARTBEAT_WAIT_SECONDS,
    )
    try:
        for page in batches:
            _page_commit(connection, connector, page, model, upsert, run, progress, listed)
            _changes_announce(connection, run, progress, final=False)
    finally:
        batches.close()  # stops the read-ahead thread at once when a write failed
        listed.drop()


def _heartbeat(run: SyncRun) -> None:
    """Between pages (outside any transaction): tell the outbox sweep this run's worker is alive."""
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(heartbeat_at=timezone.now())


def _pages_checked(pages: Iterator[ChangePage], connection: CRMConnection, object_type: str) -> Iterator[ChangePage]:
    for page in pages:
        if page.object_type != object_type:
            raise ConnectorError(f"{connection.kind} yielded a {page.object_type} page while syncing {object_type}")
        yield page


def _page_commit(
    connection: CRMConnection,
    connector: Connector,
    page: ChangePage,
    model: type[SyncedRecord],
    upsert: Upsert,
    run: SyncRun,
    progress: _Progress,
    listed: ListedIds,
) -> None:
    object_type = page.object_type
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        result, deleted = _page_write(connection, page, model, upsert, listed)
        if page.cursor:  # an empty cursor leaves the saved one as it is (nothing new was consumed)
            connection.cursor = {**connection.cursor, object_type: page.cursor}
            CRMConnection.objects.filter(pk=connection.pk).update(cursor=connection.cursor)

        progress.created += result.created
        progress.updated += result.updated
        progress.unchanged += result.unchanged + page.skipped_unchanged
        progress.deleted += deleted
        errors = [error.as_dict() for error in page.errors]
        errors += [_row_error_dict(connector, object_type, error) for error in result.errors]
        errors.sort(key=lambda error: error["line"] if error["line"] is not None else float("inf"))
        progress.add_errors(object_type, errors)
        _changed_ids_collect(model, result.changed_ids, progress)
        progress.write_to(run)
        run.cursor_after = connection.cursor
        run.heartbeat_at = timezone.now()
        run.save(
            update_fields=[
                "created",
                "updated",
                "unchanged",
                "deleted",
                "failed",
                "errors",
                "cursor_after",
                "heartbeat_at",
            ]
        )


def _page_write(
    connection: CRMConnection,
    page: ChangePage,
    model: type[SyncedRecord],
    upsert: Upsert,
    listed: ListedIds | None = None,
) -> tuple[UpsertResult, int]:
    """Upsert a page's records and soft-delete its deleted (or no longer present) ids; the caller's transaction.

    `listed` collects a streamed listing's ids (sync runs only: a webhook's page is never a listing)."""
    result = upsert(organization_id=connection.organization_id, connection_id=connection.pk, records=page.records)
    deleted = 0
    if page.deleted_external_ids:
        deleted += records_soft_delete(model=model, connection_id=connection.pk, external_ids=page.deleted_external_ids)
    if page.complete_id_set is not None:
        deleted += records_reconcile(
            model=model, connection_id=connection.pk, present_external_ids=page.complete_id_set
        )
    if listed is not None and page.listed_external_ids:
        listed.add(page.listed_external_ids)
    if listed is not None and page.listing_complete:
        deleted += listed.reconcile(model=model)
    return result, deleted


@dataclass(frozen=True)
class PageApplied:
    """What `page_apply` wrote: counts, row errors, and the ids whose change matters to scoring."""

    created: int
    updated: int
    unchanged: int
    deleted: int
    errors: list[dict[str, Any]]
    contact_ids: list[int]
    company_ids: list[int]


def page_apply(*, connection: CRMConnection, connector: Connector, page: ChangePage) -> PageApplied:
    """Write one page outside a sync run (webhook follow-ups): the same upserts and soft deletes as a sync
    page, in one transaction, without touching cursors or SyncRuns. Announcing the change is the caller's job."""
    model, upsert = _WRITERS[page.object_type]
    with transaction.atomic():
        result, deleted = _page_write(connection, page, model, upsert)
        progress = _Progress()
        _changed_ids_collect(model, result.changed_ids, progress)
    errors = [error.as_dict() for error in page.errors]
    errors += [_row_error_dict(connector, page.object_type, error) for error in result.errors]
    return PageApplied(
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        deleted=deleted,
        errors=errors,
        contact_ids=sorted(progress.contact_ids),
        company_ids=sorted(progress.company_ids),
    )


def _commit_without_waiting_for_disk() -> None:
    """Let PostgreSQL acknowledge the page's commit before its WAL reaches disk.

    Safe here because a page and its cursor commit together: a server crash can only lose whole recent
    pages along with their cursors, and the next run reads those pages again. Saves one disk flush per page.
    """
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _row_error_dict(connector: Connector, object_type: str, error: Any) -> dict[str, Any]:
    # Connectors that read files name the source column of a field (CSV: the header of the mapped column).
    column = None
    if "source_columns" in connector.features and error.field:
        column = connector.source_column(object_type=object_type, field=error.field)
    return {
        "object": object_type,
        "line": error.line,
        "column": column or error.field,
        "external_id": error.external_id,
        "reason": error.reason,
    }


def _changed_ids_collect(model: type[SyncedRecord], changed_ids: list[int], progress: _Progress) -> None:
    if not changed_ids:
        return
    if model is Contact:
        progress.contact_ids.update(changed_ids)
    elif model is Company:
        progress.company_ids.update(changed_ids)
    else:  # a changed deal or activity changes what we know about its contact
        for start in range(0, len(changed_ids), 500):
            progress.contact_ids.update(
                model.objects.filter(id__in=changed_ids[start : start + 500], contact_id__isnull=False).values_list(
                    "contact_id", flat=True
                )
            )


def _run_finish(run: SyncRun, progress: _Progress, *, status: str, summary: str) -> None:
    progress.write_to(run)
    run.status = status
    run.error_summary = summary
    run.finished_at = timezone.now()
    run.save()


def _error_summary(progress: _Progress) -> str:
    if not progress.failed:
        return ""
    by_type = ", ".join(f"{object_type}: {count}" for object_type, count in progress.failed_by_type.items())
    first = progress.errors[0]
    where = ", ".join(
        part
        for part in (
            first.get("object"),
            f"line {first['line']}" if first.get("line") else "",
            f"column {first['column']}" if first.get("column") else "",
        )
        if part
    )
    return f"{progress.failed} record(s) rejected ({by_type}). First: {where}: {first.get('reason')}"


def _changes_announce(connection: CRMConnection, run: SyncRun, progress: _Progress, *, final: bool) -> None:
    """Announce the changed ids collected so far once there are ANNOUNCE_CHUNK_IDS of them (their pages are
    committed), and the rest when the run ends: the run never holds more ids than one chunk."""
    pending = len(progress.contact_ids) + len(progress.company_ids)
    if not pending or (not final and pending < ANNOUNCE_CHUNK_IDS):
        return
    contact_ids, company_ids = sorted(progress.contact_ids), sorted(progress.company_ids)
    progress.contact_ids.clear()
    progress.company_ids.clear()
    records_changed_announce(
        organization_id=connection.organization_id,
        connection_id=connection.pk,
        sync_run_id=run.pk,
        contact_ids=contact_ids,
        company_ids=company_ids,
    )
