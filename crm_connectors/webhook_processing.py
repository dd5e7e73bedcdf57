"""Processing stored webhook events: map them to record changes and write those like a sync page would.

An event is a hint. Partial payloads (HubSpot's ids + one property, Salesforce's selected fields) are
re-read through the connector's `records_fetch`; complete ones (Pipedrive v2's `data`) are mapped by the
connector's `records_map`. Writes go through `crm_connectors.sync.page_apply`, so a webhook and a sync
upsert exactly the same way. Changed contacts get `records_changed` (-> rescoring), except for echoes of
our own score writeback, which are marked processed without touching anything.
"""

from __future__ import annotations

import logging

from django.db.models import F, Q
from django.utils import timezone

from crm_connectors.base import ChangePage, Connector, ConnectorError
from crm_connectors.connections import connector_open
from crm_connectors.models import CRMConnection, WebhookEvent
from crm_connectors.registry import webhook_handler
from crm_connectors.signals import records_changed_announce
from crm_connectors.sync import PageApplied, page_apply
from crm_connectors.webhook_types import EventPlan
from salesai.core.deal_history import deal_history_source
from salesai.core.models import DealHistory

logger = logging.getLogger(__name__)


class WebhookProcessingError(ConnectorError):
    """The event's records could not be written (kept as the event's error; replay after fixing the cause)."""


def webhook_event_process(*, event_id: int, force: bool = False) -> WebhookEvent:
    """Process one stored event; a processed one is left alone unless `force` (replay)."""
    event = WebhookEvent.objects.select_related("connection__organization").get(pk=event_id)
    if event.status == WebhookEvent.Status.PROCESSED and not force:
        return event
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1)
    connection = event.connection
    try:
        plan = webhook_handler(connection.kind).event_plan(payload=event.payload, config=connection.config)
        applied = None if plan.object_type is None or plan.score_only else _plan_apply(connection, plan)
    except Exception as exc:  # any failure is kept on the event, for a replay
        if not isinstance(exc, ConnectorError):
            logger.exception("webhook event %s failed", event.pk)
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:10_000]
        )
    else:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEvent.Status.PROCESSED, error="", processed_at=timezone.now()
        )
        if applied is not None:
            records_changed_announce(
                organization_id=connection.organization_id,
                connection_id=connection.pk,
                sync_run_id=None,
                contact_ids=applied.contact_ids,
                company_ids=applied.company_ids,
            )
    event.refresh_from_db()
    return event


def webhook_events_replay(
    *,
    event_ids: list[int] | None = None,
    connection_id: int | None = None,
    statuses: tuple[str, ...] = (WebhookEvent.Status.FAILED,),
) -> list[WebhookEvent]:
    """Process the named events again (whatever their status), or every event of a connection in `statuses`
    (failed ones by default; `received` ones are those whose processing never ran: stranded by a broker
    outage, say, or waiting for the outbox sweep)."""
    if event_ids is None and connection_id is None:
        raise ValueError("name events or a connection")
    events = WebhookEvent.objects.all()
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    else:
        events = events.filter(Q(connection_id=connection_id) & Q(status__in=list(statuses)))
    return [webhook_event_process(event_id=pk, force=True) for pk in events.order_by("pk").values_list("pk", flat=True)]


def _plan_apply(connection: CRMConnection, plan: EventPlan) -> PageApplied:
    assert plan.object_type is not None
    # Closed before writing: the page is in memory, and the database work needs no HTTP client.
    with connector_open(connection) as connector:
        page = ChangePage(plan.object_type, deleted_external_ids=list(plan.deleted_ids))
        if plan.refetch_ids:
            _feature_require(connector, "records_fetch")
            _page_extend(page, connector.records_fetch(object_type=plan.object_type, external_ids=plan.refetch_ids))
        if plan.records:
            _feature_require(connector, "records_map")
            _page_extend(
                page,
                connector.records_map(object_type=plan.object_type, raw_records=plan.records, kind=plan.record_kind),
            )
    with deal_history_source(DealHistory.Source.WEBHOOK):  # deal changes a webhook brings are history too
        applied = page_apply(connection=connection, connector=connector, page=page)
    if applied.errors:
        # The good records are written; the event stays failed so the rejected ones are not forgotten.
        reasons = "; ".join(f"{error.get('external_id') or '?'}: {error.get('reason')}" for error in applied.errors[:5])
        raise WebhookProcessingError(f"{len(applied.errors)} record(s) rejected: {reasons}")
    return applied


def _page_extend(page: ChangePage, other: ChangePage) -> None:
    page.records.extend(other.records)
    page.deleted_external_ids.extend(i for i in other.deleted_external_ids if i not in page.deleted_external_ids)
    page.errors.extend(other.errors)


def _feature_require(connector: Connector, feature: str) -> None:
    if feature not in connector.features:
        raise ConnectorError(f"{connector.label or connector.name} cannot process this event: it lacks {feature!r}")
