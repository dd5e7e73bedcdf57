"""Input limits at the webhook edge: what a signed delivery may contain before anything is stored.

Two levels, because a CRM retries whatever we do not answer with a 2xx:

- a whole request we cannot read safely (too large, not UTF-8 JSON, nested deeper than WEBHOOK_MAX_JSON_DEPTH)
  is refused with a 400/413 and a machine-readable code (`WebhookMalformed`): nothing was accepted;
- one event we can read but not store as it is (a NUL in a string — PostgreSQL's jsonb refuses it —, an id
  longer than the column) is stored *rejected*, sanitized, with the reason (`inbound_event_checked`), and the
  rest of its batch is stored and answered 2xx. Nothing accepted is lost, and one bad value cannot make a CRM
  retry (and us refuse) a whole batch forever.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from crm_connectors.base import InboundEvent
from crm_connectors.webhook_types import WebhookMalformed

EVENT_ID_MAX_CHARS = 255  # WebhookEvent.event_id / UnroutedWebhookEvent.event_id
_NUL = "\x00"
_NUL_REPLACEMENT = "\ufffd"


def json_document_load(body: bytes) -> Any:
    """Parse a webhook body as JSON; raise WebhookMalformed `invalid_json` or `too_deep`."""
    try:
        document = json.loads(body)
    except RecursionError:  # the C decoder stops at the interpreter's recursion limit: a 100,000-deep body
        raise WebhookMalformed("too_deep", _too_deep_message()) from None
    except (UnicodeDecodeError, ValueError):
        raise WebhookMalformed("invalid_json", "the body is not JSON") from None
    if _depth_exceeds(document, settings.WEBHOOK_MAX_JSON_DEPTH):
        raise WebhookMalformed("too_deep", _too_deep_message())
    return document


@dataclass(frozen=True)
class CheckedEvent:
    event: InboundEvent  # storable as it is: sanitized (and its id replaced by a digest) when rejected
    rejection: str  # "" when the event is fine, else "<code>: <message>"


def inbound_event_checked(event: InboundEvent) -> CheckedEvent:
    """The event as it can be stored, and why it is rejected ('' when it is not)."""
    reasons: list[str] = []
    event_id = event.event_id
    if len(event_id) > EVENT_ID_MAX_CHARS or _NUL in event_id:
        reasons.append(
            f"event_id_too_long: the event id has {len(event_id)} characters (at most {EVENT_ID_MAX_CHARS})"
            if len(event_id) > EVENT_ID_MAX_CHARS
            else "nul_in_event_id: the event id contains a NUL character"
        )
        # A digest keeps redeliveries of the same bad event deduplicated.
        event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    payload = event.payload
    value_problem = _value_problem(payload, settings.WEBHOOK_MAX_STRING_CHARS)
    if value_problem:
        reasons.append(value_problem)
        payload = _sanitized(payload, settings.WEBHOOK_MAX_STRING_CHARS)
    if not reasons:
        return CheckedEvent(event=event, rejection="")
    return CheckedEvent(event=InboundEvent(event_id=event_id, payload=payload), rejection="; ".join(reasons))


def _too_deep_message() -> str:
    return f"the JSON nests deeper than {settings.WEBHOOK_MAX_JSON_DEPTH} levels"


def _depth_exceeds(document: Any, limit: int) -> bool:
    # Iterative on purpose: a recursive walk is what a deep document attacks.
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _value_problem(document: Any, max_chars: int) -> str:
    """The first reason a parsed JSON value cannot be stored as it is ('' when it can)."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _NUL in value:
                return "nul_in_value: a string contains a NUL character (\\u0000)"
            if len(value) > max_chars:
                return f"value_too_long: a string has {len(value)} characters (at most {max_chars})"
        elif isinstance(value, dict):
            for key, child in value.items():
                if _NUL in key:
                    return "nul_in_value: a key contains a NUL character (\\u0000)"
                stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)
    return ""


def _sanitized(document: Any, max_chars: int) -> Any:
    """A copy with NULs replaced (U+FFFD) and long strings cut, for a rejected event's stored payload."""

    def clean(text: str) -> str:
        text = text.replace(_NUL, _NUL_REPLACEMENT)
        return text if len(text) <= max_chars else text[:max_chars] + f"...[{len(text) - max_chars} more]"

    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(document, root, 0)]
    while stack:
        value, parent, key = stack.pop()
        if isinstance(value, str):
            parent[key] = clean(value)
        elif isinstance(value, dict):
            copy: dict[str, Any] = {clean(child_key): None for child_key in value}  # keys in their order
            parent[key] = copy
            stack.extend((child, copy, clean(child_key)) for child_key, child in value.items())
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            parent[key] = items
            stack.extend((child, items, index) for index, child in enumerate(value))
        else:
            parent[key] = value
    return root[0]
