"""Inbound CRM webhooks: verify, store one WebhookEvent per CRM event (deduplicated), enqueue processing.

Nothing is processed in the request: the CRM gets its 2xx as soon as the events are durable, and the
sync-queue task `process_webhook_event` does the work (`webhook_processing.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from django.db import transaction

from crm_connectors.base import ConnectorError, InboundEvent
from crm_connectors.models import CRMConnection, WebhookEvent
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
    return WebhookReceipt(stored=stored, duplicates=len(events) - stored, body=body, content_type=content_type)


def request_headers(request: WebhookRequest) -> dict[str, str]:
    """The headers kept with a stored event, credentials left out."""
    return {name: value for name, value in request.headers.items() if name not in _SECRET_HEADERS}


def webhook_events_store(*, connection: CRMConnection, events: list[InboundEvent], headers: dict[str, str]) -> int:
    """Store the events not stored before for this connection and enqueue them after commit; the new count."""
    unique = {event.event_id: event for event in reversed(events)}  # the first copy of a repeated id wins
    with transaction.atomic():
        known = set(
            WebhookEvent.objects.filter(connection=connection, event_id__in=list(unique)).values_list(
                "event_id", flat=True
            )
        )
        fresh = [event for event_id, event in unique.items() if event_id not in known]
        # ignore_conflicts: a concurrent redelivery that committed first makes our copy a no-op.
        WebhookEvent.objects.bulk_create(
            [
                WebhookEvent(connection=connection, event_id=event.event_id, payload=event.payload, headers=headers)
                for event in fresh
            ],
            ignore_conflicts=True,
        )
        pending = list(
            WebhookEvent.objects.filter(
                connection=connection,
                event_id__in=[event.event_id for event in fresh],
                status=WebhookEvent.Status.RECEIVED,
            ).values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: webhook_events_enqueue(event_ids=pending))
    return len(fresh)


def webhook_events_enqueue(*, event_ids: list[int]) -> None:
    from crm_connectors.tasks import process_webhook_event  # the task module imports the processing service

    for event_id in event_ids:
        process_webhook_event.delay(event_id)
