"""Pipedrive webhooks (payload version 2.0), authenticated with HTTP basic auth.

Pipedrive sends the `http_auth_user` / `http_auth_password` set when the webhook was created; we keep
them in the connection's credentials as `webhook_user` / `webhook_password`. One event per request:
    {"meta": {"id", "action": create|change|delete, "entity": person|organization|deal|activity|note,
              "entity_id", "timestamp", ...}, "data": {...the whole record, v2 shape...}, "previous": {...}}
`data` is the complete record, so processing maps it directly instead of re-reading it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from typing import Any

from crm_connectors.base import InboundEvent
from crm_connectors.pipedrive.mapping import NOTE_ID_PREFIX
from crm_connectors.webhook_types import EventPlan, WebhookDenied, WebhookMalformed, WebhookRequest

OBJECT_TYPES = {
    "person": "contacts",
    "organization": "companies",
    "deal": "deals",
    "activity": "activities",
    "note": "activities",
}
ACTIONS = frozenset({"create", "change", "delete"})
# Fields Pipedrive bumps on every change: they say nothing about what the user changed.
_BOOKKEEPING_FIELDS = frozenset({"update_time", "last_activity_id", "last_activity_date"})


def verify(*, request: WebhookRequest, config: Mapping[str, Any], credentials: Mapping[str, Any], now_ms: int) -> None:
    user = str(credentials.get("webhook_user") or "")
    password = str(credentials.get("webhook_password") or "")
    if not user or not password:
        raise WebhookDenied("this connection has no webhook user and password", status=403)
    given_user, given_password = _basic_auth(request.headers.get("authorization", ""))
    # Both compared, always, in constant time: the answer must not reveal which one was wrong.
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (user_ok and password_ok):
        raise WebhookDenied("bad Pipedrive webhook credentials")


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookDenied("Pipedrive webhooks must use HTTP basic auth")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookDenied("unreadable basic auth header") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise WebhookDenied("unreadable basic auth header")
    return user, password


def parse(*, body: bytes) -> list[InboundEvent]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookMalformed("invalid_json", "the body is not JSON") from None
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise WebhookMalformed("missing_meta", "a Pipedrive v2 webhook has a `meta` object")
    if str(meta.get("version", "2.0")) != "2.0":
        raise WebhookMalformed("unsupported_version", "only Pipedrive webhook payload version 2.0 is accepted")
    action, entity, entity_id = meta.get("action"), meta.get("entity"), meta.get("entity_id")
    if action not in ACTIONS:
        raise WebhookMalformed("bad_action", f"meta.action must be one of {sorted(ACTIONS)}")
    if not isinstance(entity, str) or not entity:
        raise WebhookMalformed("missing_entity", "meta.entity is missing")
    if isinstance(entity_id, bool) or not isinstance(entity_id, int | str) or str(entity_id).strip() == "":
        raise WebhookMalformed("missing_entity_id", "meta.entity_id is missing")
    if action != "delete" and entity in OBJECT_TYPES and not isinstance(data.get("data"), dict):
        raise WebhookMalformed("missing_data", f"a {action} event carries the record in `data`")
    event_id = meta.get("id")
    if isinstance(event_id, bool) or not isinstance(event_id, int | str) or str(event_id).strip() == "":
        raise WebhookMalformed("missing_event_id", "meta.id is missing")
    return [InboundEvent(event_id=str(event_id), payload=data)]


def event_plan(*, payload: Mapping[str, Any], config: Mapping[str, Any]) -> EventPlan:
    meta = payload["meta"]
    entity, action = meta["entity"], meta["action"]
    object_type = OBJECT_TYPES.get(entity)
    if object_type is None:
        return EventPlan(None)
    external_id = (NOTE_ID_PREFIX if entity == "note" else "") + str(meta["entity_id"])
    if action == "delete":
        return EventPlan(object_type, deleted_ids=[external_id])
    if action == "change" and _only_score_changed(payload.get("previous"), config.get("score_property")):
        return EventPlan(object_type, score_only=True)
    return EventPlan(object_type, records=[dict(payload["data"])], record_kind=entity)


def _only_score_changed(previous: Any, score_key: Any) -> bool:
    """`previous` holds the old values of the changed fields (custom ones under `custom_fields`)."""
    if not score_key or not isinstance(previous, Mapping):
        return False
    changed = set(previous) - _BOOKKEEPING_FIELDS
    custom = previous.get("custom_fields")
    if isinstance(custom, Mapping):
        changed.discard("custom_fields")
        changed |= set(custom)
    return changed == {score_key}


def acknowledgement() -> tuple[bytes, str]:
    return b"", "text/plain"
