"""Inbound CRM webhooks: verify, store one WebhookEvent per CRM event (deduplicated), enqueue processing.

Nothing is processed in the request: the CRM gets its 2xx as soon as the events are durable, and the
sync-queue task `process_webhook_event` does the work (`webhook_processing.py`). The stored event is the
outbox row: if its task cannot be sent (broker down) the sweep in `outbox.py` sends it later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from django.db import transaction
from django.utils import timezone

from crm_connectors.base import ConnectorError, InboundEvent
from crm_connectors.models import CRMConnection, WebhookEvent
from crm_connectors.outbox import webhook_events_send
from crm_connectors.webhook_limits import CheckedEvent, inbound_event_checked
from crm_connectors.webhook_types import WebhookRequest

WEBHOOK_MODULES = {
    "hubspot": "crm_connectors.hubspot.webhook",
    "pipedrive": "crm_connectors.pipedrive.webhook",
    "salesforce": "crm_connectors.salesforce.webhook",
}
# Kept out of the stored headers: they are credentials.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class WebhookTargetNotFound(ConnectorError):
    """No active connection of that kind with that id (or the kind takes no webhooks)."""


@dataclass(frozen=True)
class WebhookReceipt:
    stored: int  # new events
    duplicates: int  # redeliveries of events stored before (or repeated within the request)
    rejected: int  # new events stored as rejected (kept for inspection; the others are accepted)
    body: bytes  # what the CRM expects back (Salesforce: the SOAP Ack)
    content_type: str


def webhook_handler(kind: str) -> ModuleType:
    """The CRM's webhook module (see `webhook_types` for its functions)."""
    module = WEBHOOK_MODULES.get(kind)
    if module is None:
        raise WebhookTargetNotFound(f"{kind!r} takes no webhooks")
    return import_module(module)


def webhook_receive(
    *, kind: str, connection_id: int, request: WebhookRequest, now_ms: int | None = None
) -> WebhookReceipt:
    """Verify and store a delivery; processing is enqueued once the rows commit.

    Raises WebhookTargetNotFound, WebhookDenied (nothing stored) or WebhookMalformed (nothing stored).
    """
    handler = webhook_handler(kind)
    connection = CRMConnection.objects.filter(pk=connection_id, kind=kind, is_active=True).first()
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
    with transaction.atomic():
        known = dict(
            WebhookEvent.objects.filter(connection=connection, event_id__in=list(unique)).values_list(
                "event_id", "status"
            )
        )
        fresh = [checked for event_id, checked in unique.items() if event_id not in known]
        # ignore_conflicts: a concurrent redelivery that committed first makes our copy a no-op.
        WebhookEvent.objects.bulk_create(
            [
                WebhookEvent(
                    connection=connection,
                    event_id=checked.event.event_id,
                    payload=checked.event.payload,
                    headers=headers,
                    status=WebhookEvent.Status.REJECTED if checked.rejection else WebhookEvent.Status.RECEIVED,
                    error=checked.rejection,
                    enqueued_at=None if checked.rejection else now,
                )
                for checked in fresh
            ],
            ignore_conflicts=True,
        )
        redelivered = [event_id for event_id, status in known.items() if status == WebhookEvent.Status.RECEIVED]
        if redelivered:
            WebhookEvent.objects.filter(connection=connection, event_id__in=redelivered).update(enqueued_at=now)
        to_send = [checked.event.event_id for checked in fresh if not checked.rejection] + redelivered
        pending = list(
            WebhookEvent.objects.filter(
                connection=connection, event_id__in=to_send, status=WebhookEvent.Status.RECEIVED
            ).values_list("pk", flat=True)
        )
        # Sent after commit; a broker failure is left to the outbox sweep and the CRM still gets its 2xx.
        transaction.on_commit(lambda: webhook_events_send(event_ids=pending))
    rejected = sum(1 for checked in fresh if checked.rejection)
    return EventsStored(stored=len(fresh) - rejected, duplicates=len(events) - len(fresh), rejected=rejected)
