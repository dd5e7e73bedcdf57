"""HubSpot webhooks: signature v1/v2/v3 over the raw body, the event array, and what each event asks for.

Facts: shared/crm-specs/hubspot/CONTRACT.md section 7. The app's client secret (the connection's
`client_secret` credential) signs every request. Events are hints: processing re-reads the records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from crm_connectors.base import InboundEvent
from crm_connectors.webhook_limits import json_document_load
from crm_connectors.webhook_types import EventPlan, WebhookDenied, WebhookMalformed, WebhookRequest

MAX_TIMESTAMP_AGE_MS = 300_000  # v3 replay guard: 5 minutes
DEFAULT_SCORE_PROPERTY = "salesai_lead_score"
DEFAULT_CHURN_PROPERTY = "salesai_churn_risk"  # on companies
DEFAULT_WIN_PROPERTY = "salesai_win_probability"  # on deals, as hubspot/writeback.py names them
DEFAULT_CLOSE_PROPERTY = "salesai_expected_close"
OBJECT_TYPES = {"contact": "contacts", "company": "companies", "deal": "deals"}
# The escapes HubSpot's validation page says to decode in the v3 URI (its exact list is unconfirmed).
_V3_URI_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signature_v1(*, secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def signature_v2(*, secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.upper().encode() + uri.encode() + body).hexdigest()


def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify(*, request: WebhookRequest, config: Mapping[str, Any], credentials: Mapping[str, Any], now_ms: int) -> None:
    """A connection's own endpoint: the signature, then the portal (when the connection knows its own)."""
    secret = str(credentials.get("client_secret") or "")
    if not secret:
        raise WebhookDenied("this connection has no client secret to check HubSpot signatures with", status=403)
    verify_signature(request=request, secret=secret, now_ms=now_ms)
    _portal_check(request.body, credentials)


def verify_signature(*, request: WebhookRequest, secret: str, now_ms: int) -> None:
    """Accept v3 when its header is present, else v1/v2 by `X-HubSpot-Signature-Version`; raise WebhookDenied."""
    headers = request.headers
    if "x-hubspot-signature-v3" in headers:
        _verify_v3(request, secret, now_ms)
        return
    signature = headers.get("x-hubspot-signature", "")
    version = headers.get("x-hubspot-signature-version", "v1").lower()
    if not signature:
        raise WebhookDenied("missing HubSpot signature")
    if version == "v1":
        expected = signature_v1(secret=secret, body=request.body)
    elif version == "v2":
        expected = signature_v2(secret=secret, method=request.method, uri=request.uri, body=request.body)
    else:
        raise WebhookDenied(f"unsupported HubSpot signature version {version[:10]!r}")
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookDenied(f"bad HubSpot {version} signature")


def portal_id(payload: Mapping[str, Any]) -> str:
    """The event's account (`portalId`, the OAuth `hub_id`); '' when missing."""
    return _id(payload.get("portalId")) or ""


def _verify_v3(request: WebhookRequest, secret: str, now_ms: int) -> None:
    timestamp = request.headers.get("x-hubspot-request-timestamp", "").strip()
    if not timestamp.isdigit():
        raise WebhookDenied("missing or non-numeric X-HubSpot-Request-Timestamp")
    if abs(now_ms - int(timestamp)) > MAX_TIMESTAMP_AGE_MS:
        raise WebhookDenied("HubSpot v3 timestamp outside the 5-minute window")
    received = request.headers["x-hubspot-signature-v3"].strip().encode()
    for uri in dict.fromkeys((request.uri, _decode_uri(request.uri))):
        expected = signature_v3(secret=secret, method=request.method, uri=uri, body=request.body, timestamp=timestamp)
        if hmac.compare_digest(expected.encode(), received):
            return
    raise WebhookDenied("bad HubSpot v3 signature")


def _portal_check(body: bytes, credentials: Mapping[str, Any]) -> None:
    """One app secret signs every portal's events: refuse events of a portal other than the connection's
    (its OAuth `hub_id`, when known), so a delivery cannot be replayed against another tenant's URL."""
    hub_id = credentials.get("hub_id")
    if not hub_id:
        return
    try:
        events = json_document_load(body)
    except WebhookMalformed:
        return  # `parse` answers 400 with the reason
    portals = (
        {str(event.get("portalId")) for event in events if isinstance(event, dict)}
        if isinstance(events, list)
        else set()
    )
    if portals - {str(hub_id)}:
        raise WebhookDenied("events of another HubSpot portal", status=403)


def _decode_uri(uri: str) -> str:
    for escape, char in _V3_URI_ESCAPES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


def parse(*, body: bytes) -> list[InboundEvent]:
    """The body is a JSON array of events, each with an `eventId` (deduplicated on it)."""
    data = json_document_load(body)  # invalid_json, too_deep
    if not isinstance(data, list) or not data:
        raise WebhookMalformed("not_an_event_array", "HubSpot sends a non-empty JSON array of events")
    events = []
    for position, item in enumerate(data):
        event_id = item.get("eventId") if isinstance(item, dict) else None
        if isinstance(event_id, bool) or not isinstance(event_id, int | str) or str(event_id).strip() == "":
            raise WebhookMalformed("missing_event_id", f"event {position} has no eventId")
        if not isinstance(item.get("subscriptionType"), str):
            raise WebhookMalformed("missing_subscription_type", f"event {position} has no subscriptionType")
        events.append(InboundEvent(event_id=str(event_id), payload=item))
    return events


def event_plan(*, payload: Mapping[str, Any], config: Mapping[str, Any]) -> EventPlan:
    subscription = str(payload.get("subscriptionType", ""))
    object_name, _, action = subscription.partition(".")
    object_type = OBJECT_TYPES.get(object_name)
    if object_type is None:
        return EventPlan(None)  # tickets, products, conversations...: nothing we sync
    record_id = _id(payload.get("objectId"))
    if action == "propertyChange" and payload.get("propertyName") in own_properties(config):
        return EventPlan(object_type, score_only=True)
    if action in ("deletion", "privacyDeletion"):
        return EventPlan(object_type, deleted_ids=_ids([record_id]))
    if action == "merge":
        survivor = _id(payload.get("primaryObjectId")) or _id(payload.get("newObjectId")) or record_id
        merged = [_id(value) for value in payload.get("mergedObjectIds") or []]
        return EventPlan(
            object_type, refetch_ids=_ids([survivor]), deleted_ids=[i for i in _ids(merged) if i != survivor]
        )
    if action == "associationChange":
        record_id = record_id or _id(payload.get("fromObjectId"))
    return EventPlan(object_type, refetch_ids=_ids([record_id]))


def score_property(config: Mapping[str, Any]) -> str:
    return str(config.get("score_property") or DEFAULT_SCORE_PROPERTY)


def own_properties(config: Mapping[str, Any]) -> frozenset[str]:
    """The properties our writeback sets (lead score, churn risk, deal win probability and expected close): a
    change of one alone is our own echo."""
    return frozenset(
        {
            score_property(config),
            str(config.get("churn_property") or DEFAULT_CHURN_PROPERTY),
            str(config.get("win_probability_property") or DEFAULT_WIN_PROPERTY),
            str(config.get("expected_close_property") or DEFAULT_CLOSE_PROPERTY),
        }
    )


def acknowledgement() -> tuple[bytes, str]:
    return b"", "text/plain"


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        return None
    return str(value)


def _ids(values: list[str | None]) -> list[str]:
    return [value for value in dict.fromkeys(values) if value]
