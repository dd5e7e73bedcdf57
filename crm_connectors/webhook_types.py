"""Shapes shared by the webhook front door (`webhooks.py`), the per-CRM webhook modules and processing.

Each CRM package whose connector declares the "webhooks" feature has a `webhook.py`, named by the connector
class's `webhook` attribute (`registry.webhook_handler(kind)` finds it), with the same four functions:

    verify(*, request: WebhookRequest, config, credentials, now_ms: int) -> None   # raises WebhookDenied
    parse(*, body: bytes) -> list[InboundEvent]                                   # raises WebhookMalformed
    event_plan(*, payload: dict, config) -> EventPlan                             # pure: what to re-read/delete
    acknowledgement() -> tuple[bytes, str]                                        # 2xx body and content type
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_connectors.base import ConnectorError, WebhookRejected


class WebhookTargetNotFound(ConnectorError):
    """No active connection of that kind with that id (or the kind takes no webhooks)."""


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    uri: str  # the absolute URL the CRM called (HubSpot signs it)
    headers: Mapping[str, str]  # names lower-cased
    body: bytes  # raw, exactly as received: signatures cover these bytes
    url_secret: str | None = None  # Salesforce: the per-connection secret in the URL


class WebhookDenied(WebhookRejected):
    """Failed authentication or verification: nothing is stored."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class WebhookMalformed(WebhookRejected):
    """Authentic but unreadable: answered 400 with a machine-readable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class EventPlan:
    """What one stored event asks processing to do.

    `object_type` None means the event is about nothing we sync (e.g. a HubSpot ticket): processed, no-op.
    `refetch_ids` are re-read from the CRM (partial payloads); `records` are complete raw CRM records the
    connector maps itself; `score_only` marks an echo of our own writeback (never rescored).
    """

    object_type: str | None
    refetch_ids: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    record_kind: str | None = None  # the CRM's name for `records`' type when it matters (Pipedrive notes)
    deleted_ids: list[str] = field(default_factory=list)
    score_only: bool = False
