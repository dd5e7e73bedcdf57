"""Inbound CRM webhooks: verify, store one WebhookEvent per CRM event (deduplicated), enqueue processing.

Nothing is processed in the request: the CRM gets its 2xx as soon as the events are durable, and the
sync-queue task `process_webhook_event` does the work (`webhook_processing.py`). The stored event is the
outbox row: if its task cannot be sent (broker down) the sweep in `outbox.py` sends it later.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from crm_connectors.base import InboundEvent
from crm_connectors.models import CRMConnection, WebhookEvent
from crm_connectors.outbox import webhook_events_send
from crm_connectors.registry import webhook_handler
from crm_connectors.webhook_limits import CheckedEvent, inbound_event_checked
from crm_connectors.webhook_types import WebhookRequest, WebhookTargetNotFound

# Kept out of the stored headers: they are credentials.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class WebhookReceipt:
    stored: int  # new events
    duplicates: int  # redeliveries of events stored before (or repeated within the request)
    rejected: int  # new events stored as rejected (kept for inspection; the others are accepted)
    body: bytes  # what the CRM expects back (Salesforce: the SOAP Ack)
    content_type: str


def webhook_receive(
    *, kind: str, connection_id: int, request: WebhookRequest, now_ms: int | None = None
) -> WebhookReceipt:
    """Verify and store a delivery; processing is enqueued once the rows commit.

    Raises WebhookTargetNotFound, WebhookDenied (nothing stored) or WebhookMalformed (nothing stored).
    """
    handler = webhook_handler(kind)
    # Not its sync cursors: they can be large and a delivery never needs them.
    connection = CRMConnection.objects.filter(pk=connection_id, kind=kind, is_active=True).defer("cursor").first()
    if connection is None:
        raise WebhookTargetNotFound(f"no active {kind} connection {connection_id}")
    handler.verify(
        request=request,
        config=connection.config,
        credentials=connection.credentials,
        now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
    )
    events = handler.parse(body=request.body)
    stored = webhook_events_store(connection=connection, events=events, headers=request_headers(request))
    body, content_type = handler.acknowledgement()
    return WebhookReceipt(
        stored=stored.stored,
        duplicates=stored.duplicates,
        rejected=stored.rejected,
        body=body,
        content_type=content_type,
    )


def request_headers(request: WebhookRequest) -> dict[str, str]:
    """The headers kept with a stored event, credentials left out."""
    return {name: value for name, value in request.headers.items() if name not in _SECRET_HEADERS}


@dataclass(frozen=True)
class EventsStored:
    stored: int  # new events, accepted for processing
    duplicates: int  # events stored before (or repeated within the delivery)
    rejected: int  # new events stored as rejected (see webhook_limits)


def webhook_events_store(
    *, connection: CRMConnection, events: list[InboundEvent], headers: dict[str, str]
) -> EventsStored:
    """Store the events not stored before for this connection and send their processing after commit.

    An event that cannot be stored as it is (webhook_limits) is stored rejected, sanitized, beside the others.
    A redelivery of an event that is still unprocessed sends its processing again: the CRM retrying means
    it did not get our answer, and the first send may have failed with it.
    """
    unique: dict[str, CheckedEvent] = {}
    for event in reversed(events):  # the first copy of a repeated id wins
        checked = inbound_event_checked(event)
        unique[checked.event.event_id] = checked
    now = timezone.now()
    rows = [
        WebhookEvent(
            connection=connection,
            event_id=checked.event.event_id,
            payload=checked.event.payload,
            headers=headers,
            status=WebhookEvent.Status.REJECTED if checked.rejection else WebhookEvent.Status.RECEIVED,
            error=checked.rejection,
            enqueued_at=None if checked.rejection else now,
        )
        for checked in unique.values()
    ]
    # No transaction of its own: the insert is one statement, and every row it commits is the outbox row of
    # its own task, sent below (after the caller's transaction, if any, commits).
    inserted = _rows_insert_new(connection, rows, now)  # {event_id: (pk, status)} of the rows this call stored
    duplicates = [event_id for event_id in unique if event_id not in inserted]
    redelivered: list[int] = []
    if duplicates:
        waiting = WebhookEvent.objects.filter(
            connection=connection, event_id__in=duplicates, status=WebhookEvent.Status.RECEIVED
        )
        redelivered = list(waiting.values_list("pk", flat=True))
        WebhookEvent.objects.filter(pk__in=redelivered).update(enqueued_at=now)
    pending = [pk for pk, status in inserted.values() if status == WebhookEvent.Status.RECEIVED] + redelivered
    # A broker failure is left to the outbox sweep: the CRM still gets its 2xx, the events are stored.
    transaction.on_commit(lambda: webhook_events_send(event_ids=pending))
    rejected = sum(1 for _, status in inserted.values() if status == WebhookEvent.Status.REJECTED)
    return EventsStored(stored=len(inserted) - rejected, duplicates=len(events) - len(inserted), rejected=rejected)


def _rows_insert_new(connection: CRMConnection, rows: list[WebhookEvent], now: datetime) -> dict[str, tuple[int, str]]:
    """Insert the rows whose (connection, event_id) is new; {event_id: (pk, status)} of those inserted.

    A redelivery racing us (or stored before) is skipped by the unique constraint. On PostgreSQL that is one
    INSERT ... ON CONFLICT DO NOTHING RETURNING statement (the hot path of every delivery: one round trip);
    elsewhere a lookup, then bulk_create."""
    if not rows:
        return {}
    if db_connection.vendor == "postgresql":
        meta = WebhookEvent._meta
        columns = [
            "connection_id",
            "event_id",
            "payload",
            "headers",
            "status",
            "error",
            "attempts",
            "received_at",
            "enqueued_at",
        ]
        placeholders = "(%s, %s, %s::jsonb, %s::jsonb, %s, %s, 0, %s, %s)"
        params: list[object] = []
        for row in rows:
            params += [
                connection.pk,
                row.event_id,
                json.dumps(row.payload),
                json.dumps(row.headers),
                row.status,
                row.error,
                now,
                row.enqueued_at,
            ]
        sql = (
            f"INSERT INTO {meta.db_table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))} "
            "ON CONFLICT (connection_id, event_id) DO NOTHING RETURNING id, event_id, status"
        )
        with db_connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {event_id: (pk, status) for pk, event_id, status in cursor.fetchall()}
    known = set(
        WebhookEvent.objects.filter(connection=connection, event_id__in=[row.event_id for row in rows]).values_list(
            "event_id", flat=True
        )
    )
    fresh = [row for row in rows if row.event_id not in known]
    WebhookEvent.objects.bulk_create(fresh, ignore_conflicts=True)
    stored = WebhookEvent.objects.filter(connection=connection, event_id__in=[row.event_id for row in fresh])
    return {event_id: (pk, status) for pk, event_id, status in stored.values_list("pk", "event_id", "status")}
