"""Pipedrive webhooks, payload versions 1.0 and 2.0, authenticated with HTTP basic auth.

Pipedrive sends the `http_auth_user` / `http_auth_password` set when the webhook was created; we keep
them in the connection's credentials as `webhook_user` / `webhook_password`. One event per request.

v2.0 (the default since 2025-03-17):
    {"meta": {"id", "action": create|change|delete, "entity": person|organization|deal|activity|note,
              "entity_id", "version": "2.0", "timestamp", ...}, "data": {...the whole record, v2 shape...},
     "previous": {...the changed fields' old values...}}
`data` is the complete record, so processing maps it directly instead of re-reading it.

v1.0 (older webhooks, still sent when created with `version: "1.0"`):
    {"v": 1, "event": "updated.person", "meta": {"v": 1, "action": added|updated|deleted|merged,
     "object": person|..., "id": <the record's id>, "timestamp", "timestamp_micro", "webhook_id", ...},
     "current": {...v1 record...}, "previous": {...v1 record...}, "retry": 0, "matches_filters": {...}}
`meta.id` is the record's id, not the event's: an event is identified by what it says (record, action,
time and content), which a redelivery repeats. `current` has API v1's shape (custom fields at the top
level, emails as a list of objects), so records are re-read through API v2 except notes, which we read
from v1 anyway. A merge re-reads the surviving record and soft-deletes the one merged into it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from crm_connectors.base import InboundEvent
from crm_connectors.pipedrive.mapping import NOTE_ID_PREFIX
from crm_connectors.webhook_limits import json_document_load
from crm_connectors.webhook_types import EventPlan, WebhookDenied, WebhookMalformed, WebhookRequest

OBJECT_TYPES = {
    "person": "contacts",
    "organization": "companies",
    "deal": "deals",
    "activity": "activities",
    "note": "activities",
}
ACTIONS = frozenset({"create", "change", "delete"})
V1_ACTIONS = {"added": "create", "updated": "change", "deleted": "delete", "merged": "merge"}
# Delivery bookkeeping: differs between a delivery and its redelivery, so never part of an event's identity.
_V1_RETRY_FIELDS = frozenset({"retry", "attempt", "attempt_no", "next_attempt_ts"})
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
    data = json_document_load(body)  # invalid_json, too_deep
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise WebhookMalformed("missing_meta", "a Pipedrive webhook has a `meta` object")
    if is_v1(data):
        return [_parse_v1(data, meta)]
    if str(meta.get("version", "2.0")) != "2.0":
        raise WebhookMalformed("unsupported_version", "Pipedrive webhook payload versions 1.0 and 2.0 are accepted")
    action, entity, entity_id = meta.get("action"), meta.get("entity"), meta.get("entity_id")
    if action not in ACTIONS:
        raise WebhookMalformed("bad_action", f"meta.action must be one of {sorted(ACTIONS)}")
    if not isinstance(entity, str) or not entity:
        raise WebhookMalformed("missing_entity", "meta.entity is missing")
    if not _is_id(entity_id):
        raise WebhookMalformed("missing_entity_id", "meta.entity_id is missing")
    if action != "delete" and entity in OBJECT_TYPES and not isinstance(data.get("data"), dict):
        raise WebhookMalformed("missing_data", f"a {action} event carries the record in `data`")
    event_id = meta.get("id")
    if not _is_id(event_id):
        raise WebhookMalformed("missing_event_id", "meta.id is missing")
    return [InboundEvent(event_id=str(event_id), payload=data)]


def is_v1(payload: Mapping[str, Any]) -> bool:
    meta = payload.get("meta")
    if not isinstance(meta, Mapping):
        return False
    version = str(meta.get("v", payload.get("v", meta.get("version", ""))))
    return version in ("1", "1.0") or ("object" in meta and "entity" not in meta)


def _parse_v1(data: dict[str, Any], meta: dict[str, Any]) -> InboundEvent:
    action, entity = meta.get("action"), meta.get("object")
    if action not in V1_ACTIONS:
        raise WebhookMalformed("bad_action", f"meta.action of a v1 webhook must be one of {sorted(V1_ACTIONS)}")
    if not isinstance(entity, str) or not entity:
        raise WebhookMalformed("missing_entity", "meta.object is missing")
    record_id = _v1_record_id(data)
    if record_id is None:
        raise WebhookMalformed("missing_entity_id", "meta.id (the record's id) is missing")
    if action != "deleted" and entity in OBJECT_TYPES and not isinstance(data.get("current"), dict):
        raise WebhookMalformed("missing_data", f"a v1 {action} event carries the record in `current`")
    return InboundEvent(event_id=_v1_event_id(data, meta, entity, action, record_id), payload=data)


def _v1_record_id(data: Mapping[str, Any]) -> str | None:
    meta = data.get("meta") or {}
    for candidate in (meta.get("id"), (data.get("current") or {}).get("id"), (data.get("previous") or {}).get("id")):
        if _is_id(candidate):
            return str(candidate)
    return None


def _v1_event_id(data: Mapping[str, Any], meta: Mapping[str, Any], entity: str, action: str, record_id: str) -> str:
    """v1 has no event id: record, action and change time, plus a digest of the content so two changes of
    one record within one timestamp tick stay two events. A redelivery repeats all of them."""
    stamp = meta.get("timestamp_micro") or meta.get("timestamp") or ""
    content = {
        "meta": {key: value for key, value in meta.items() if key not in _V1_RETRY_FIELDS},
        "current": data.get("current"),
        "previous": data.get("previous"),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"v1:{action}.{entity}:{record_id}:{stamp}:{digest}"


def _is_id(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | str) and str(value).strip() != ""


def event_plan(*, payload: Mapping[str, Any], config: Mapping[str, Any]) -> EventPlan:
    if is_v1(payload):
        return _v1_plan(payload, config)
    meta = payload["meta"]
    entity, action = meta["entity"], meta["action"]
    object_type = OBJECT_TYPES.get(entity)
    if object_type is None:
        return EventPlan(None)
    external_id = _external_id(entity, meta["entity_id"])
    if action == "delete":
        return EventPlan(object_type, deleted_ids=[external_id])
    if action == "change" and _only_score_changed(payload.get("previous"), _own_keys(config)):
        return EventPlan(object_type, score_only=True)
    return EventPlan(object_type, records=[dict(payload["data"])], record_kind=entity)


def _v1_plan(payload: Mapping[str, Any], config: Mapping[str, Any]) -> EventPlan:
    meta = payload["meta"]
    entity, action = meta["object"], V1_ACTIONS[meta["action"]]
    object_type = OBJECT_TYPES.get(entity)
    if object_type is None:
        return EventPlan(None)
    record_id = _v1_record_id(payload)
    current = payload.get("current") if isinstance(payload.get("current"), Mapping) else {}
    if action == "delete":
        return EventPlan(object_type, deleted_ids=[_external_id(entity, record_id)])
    if action == "merge":
        survivor = str(current["id"]) if _is_id(current.get("id")) else record_id
        previous = payload.get("previous") if isinstance(payload.get("previous"), Mapping) else {}
        # Which side `meta.id`, `previous` and `merge_what_id` name is not documented: every id that is not
        # the survivor's is the record merged away.
        merged = [meta.get("id"), previous.get("id"), current.get("merge_what_id")]
        gone = [str(i) for i in dict.fromkeys(str(i) for i in merged if _is_id(i)) if str(i) != survivor]
        plan = EventPlan(object_type, deleted_ids=[_external_id(entity, i) for i in gone])
    else:
        if action == "change" and _v1_only_score_changed(payload, _own_keys(config)):
            return EventPlan(object_type, score_only=True)
        survivor, plan = str(record_id), EventPlan(object_type)
    if entity == "note":  # notes are read from API v1 anyway: `current` has exactly the shape we map
        plan.records, plan.record_kind = [dict(current)], "note"
    else:
        plan.refetch_ids = [survivor]
    return plan


def _own_keys(config: Mapping[str, Any]) -> frozenset[str]:
    """The custom field keys our writeback sets (person lead score, organization churn risk, deal win probability
    and expected close), once known."""
    names = ("score_property", "churn_property", "win_probability_property", "expected_close_property")
    return frozenset(str(config[name]) for name in names if config.get(name))


def _v1_only_score_changed(payload: Mapping[str, Any], own_keys: frozenset[str]) -> bool:
    """v1's `previous` is the whole record before the change: compare it with `current`."""
    current, previous = payload.get("current"), payload.get("previous")
    if not own_keys or not isinstance(current, Mapping) or not isinstance(previous, Mapping):
        return False
    changed = {key for key in set(current) | set(previous) if current.get(key) != previous.get(key)}
    changed -= _BOOKKEEPING_FIELDS
    return bool(changed) and changed <= own_keys


def _external_id(entity: str, record_id: Any) -> str:
    return (NOTE_ID_PREFIX if entity == "note" else "") + str(record_id)


def _only_score_changed(previous: Any, own_keys: frozenset[str]) -> bool:
    """`previous` holds the old values of the changed fields (custom ones under `custom_fields`)."""
    if not own_keys or not isinstance(previous, Mapping):
        return False
    changed = set(previous) - _BOOKKEEPING_FIELDS
    custom = previous.get("custom_fields")
    if isinstance(custom, Mapping):
        changed.discard("custom_fields")
        changed |= set(custom)
    return bool(changed) and changed <= own_keys


def acknowledgement() -> tuple[bytes, str]:
    return b"", "text/plain"
