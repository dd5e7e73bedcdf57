"""HubSpot app-level webhooks: one target URL per app, events of every portal that installed it.

`POST /webhooks/hubspot/app/<app id>/`. The app's connections are the active HubSpot connections whose
config names the `app_id`; they share the app's client secret, which signs the delivery (v3 with its
5-minute window, else v1/v2; CONTRACT.md 7.4-7.5). Each event goes to the connection(s) of its `portalId`
(the OAuth `hub_id` saved in the connection's credentials) and is stored there exactly like a delivery to
the connection's own URL. Events of a portal no connection knows are kept as UnroutedWebhookEvent and
acknowledged all the same: HubSpot retries anything but a 2xx (or 400/401/403/404/405) for days.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q

from crm_connectors.base import InboundEvent
from crm_connectors.hubspot import webhook
from crm_connectors.models import CRMConnection, UnroutedWebhookEvent
from crm_connectors.webhook_limits import inbound_event_checked
from crm_connectors.webhook_types import WebhookDenied, WebhookRequest, WebhookTargetNotFound
from crm_connectors.webhooks import request_headers, webhook_events_store

logger = logging.getLogger(__name__)

KIND = "hubspot"


@dataclass(frozen=True)
class AppWebhookReceipt:
    # Counted per (connection, event): an event of a portal with two connections is stored twice.
    stored: int  # new WebhookEvents
    duplicates: int  # events a target connection had already (redeliveries, repeats within the request)
    rejected: int  # new events stored rejected (a NUL, an over-long id...: see webhook_limits), kept for replay
    unrouted: int  # new events of portals without a connection
    unknown_portals: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "unrouted": self.unrouted,
            "unknown_portals": self.unknown_portals,
        }


def hubspot_app_webhook_receive(
    *, app_id: str, request: WebhookRequest, now_ms: int | None = None
) -> AppWebhookReceipt:
    """Verify a delivery with the app's client secret and store each event under its portal's connections.

    Raises WebhookTargetNotFound (no connection names the app), WebhookDenied or WebhookMalformed (nothing
    stored in either case).
    """
    connections = _app_connections(app_id)
    if not connections:
        raise WebhookTargetNotFound(f"no active HubSpot connection for app {app_id}")
    secret = _verified_secret(connections, request, now_ms if now_ms is not None else int(time.time() * 1000))
    events = webhook.parse(body=request.body)

    # Only connections holding the secret that signed this delivery: a connection that merely claims the
    # app id (with a secret of its own) must not receive another tenant's portal events.
    by_portal: dict[str, list[CRMConnection]] = defaultdict(list)
    for connection in connections:
        if _secret(connection) == secret and _hub_id(connection):
            by_portal[_hub_id(connection)].append(connection)

    routed: dict[str, list[InboundEvent]] = defaultdict(list)
    unrouted: list[InboundEvent] = []
    for event in events:
        portal = webhook.portal_id(event.payload)
        (routed[portal] if portal in by_portal else unrouted).append(event)

    headers = request_headers(request)
    stored = duplicates = rejected = 0
    for portal, portal_events in routed.items():
        for connection in by_portal[portal]:
            counts = webhook_events_store(connection=connection, events=portal_events, headers=headers)
            stored += counts.stored
            duplicates += counts.duplicates
            rejected += counts.rejected
    new_unrouted, unknown = _unrouted_store(app_id, unrouted)
    if unknown:
        logger.warning(
            "HubSpot app %s: %d event(s) of portal(s) %s match no active connection (kept as unrouted events)",
            app_id,
            len(unrouted),
            ", ".join(unknown),
        )
    return AppWebhookReceipt(
        stored=stored, duplicates=duplicates, rejected=rejected, unrouted=new_unrouted, unknown_portals=unknown
    )


def _app_connections(app_id: str) -> list[CRMConnection]:
    match = Q(config__app_id=app_id)
    if app_id.isdigit():
        match |= Q(config__app_id=int(app_id))  # the config may hold the id as a number
    return list(CRMConnection.objects.filter(match, kind=KIND, is_active=True).order_by("pk"))


def _verified_secret(connections: list[CRMConnection], request: WebhookRequest, now_ms: int) -> str:
    secrets = list(dict.fromkeys(secret for connection in connections if (secret := _secret(connection))))
    if not secrets:
        raise WebhookDenied("the app's connections have no client secret to check HubSpot signatures with", status=403)
    denial: WebhookDenied | None = None
    for secret in secrets:
        try:
            webhook.verify_signature(request=request, secret=secret, now_ms=now_ms)
        except WebhookDenied as exc:
            denial = denial or exc
        else:
            return secret
    assert denial is not None
    raise denial


def _unrouted_store(app_id: str, events: list[InboundEvent]) -> tuple[int, list[str]]:
    """Keep events nobody can process (deduplicated on the event id); their count and portals."""
    if not events:
        return 0, []
    # Sanitized like a connection's events: NULs and over-long ids would fail the insert (and the delivery).
    unique = {}
    for event in reversed(events):
        checked = inbound_event_checked(event).event
        unique[checked.event_id] = checked
    known = set(
        UnroutedWebhookEvent.objects.filter(kind=KIND, app_id=app_id, event_id__in=list(unique)).values_list(
            "event_id", flat=True
        )
    )
    fresh = [event for event_id, event in unique.items() if event_id not in known]
    UnroutedWebhookEvent.objects.bulk_create(
        [
            UnroutedWebhookEvent(
                kind=KIND,
                app_id=app_id,
                account_id=webhook.portal_id(event.payload)[:64],
                event_id=event.event_id,
                payload=event.payload,
            )
            for event in fresh
        ],
        ignore_conflicts=True,
    )
    portals = sorted({webhook.portal_id(event.payload) or "(none)" for event in events})
    return len(fresh), portals


def _secret(connection: CRMConnection) -> str:
    return str((connection.credentials or {}).get("client_secret") or "")


def _hub_id(connection: CRMConnection) -> str:
    return str((connection.credentials or {}).get("hub_id") or "")
