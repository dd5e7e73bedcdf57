"""The one interface every CRM connector implements.

A connector knows its CRM's wire format and nothing about our database: it yields pages of records
already mapped to our canonical fields, and the sync engine (`crm_connectors.sync`) writes them through
`salesai.core` services and saves the cursor after each committed page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Dependency order: a page of contacts may reference companies synced before it.
OBJECT_TYPES: tuple[str, ...] = ("companies", "contacts", "deals", "activities")


class ConnectorError(Exception):
    """A problem with the connection as a whole (bad credentials, unreachable CRM, bad configuration)."""


class WebhookRejected(ConnectorError):
    """A webhook request that failed verification; answered with 4xx and never stored."""


@dataclass(frozen=True)
class RecordError:
    """One rejected input record, reported to the user in the SyncRun."""

    object_type: str
    reason: str
    line: int | None = None  # 1-based line in the source file, header = line 1 (CSV)
    column: str | None = None
    external_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": self.object_type,
            "line": self.line,
            "column": self.column,
            "external_id": self.external_id,
            "reason": self.reason,
        }


@dataclass
class ChangePage:
    """One page of remote changes for one object type.

    `records` hold canonical field names (see `salesai.core.services` for each type's fields) plus
    `external_id`, `properties`, `remote_updated_at`, and references to parents as
    `company_external_id` / `contact_external_id` / `deal_external_id`.
    `cursor` is what to save for this object type once the page is committed.
    """

    object_type: str
    records: list[dict[str, Any]] = field(default_factory=list)
    deleted_external_ids: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    # The complete set of ids the CRM holds for this type, when the connector can list it cheaply
    # (a CSV file is always complete): rows not in it are soft-deleted by reconciliation.
    complete_id_set: frozenset[str] | None = None
    # The streamed form of the same, for listings too large to hold: the live ids this page listed (None: the
    # page is not part of a listing that started at the beginning in this run) and, on the listing's last
    # page, `listing_complete`. The engine keeps the ids in a temporary table, not in memory (reconcile.py).
    listed_external_ids: list[str] | None = None
    listing_complete: bool = False
    # Records the connector knows are unchanged without reading them (an unchanged file): counted, not parsed.
    skipped_unchanged: int = 0


@dataclass(frozen=True)
class ScoreUpdate:
    object_type: str
    external_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class WriteResult:
    external_id: str
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class InboundEvent:
    event_id: str
    payload: dict[str, Any]


class Connector(ABC):
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # JSON schema of the connection's non-secret `config`.
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    supports_writeback: ClassVar[bool] = False
    supports_webhooks: ClassVar[bool] = False
    # Hosts the vendor's API lives on ("api.example.com", ".example.com" for subdomains): the only ones its HTTP
    # client (crm_connectors.http) and its URL config may name, unless the deployment's CRM_ALLOWED_HOSTS adds more.
    api_hosts: ClassVar[tuple[str, ...]] = ()

    # Set by whoever runs the connector; called with the complete new credentials after an OAuth refresh,
    # so a rotated refresh token is saved before the old one stops working.
    on_credentials_change: Callable[[dict[str, Any]], None] | None = None

    # The slug of the organisation whose connection this is; set by `registry.connector_build`. Connectors
    # that read local files (CSV) stay inside that organisation's folder and refuse to work without it.
    organization_slug: str = ""

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.credentials = dict(credentials)

    @classmethod
    def config_check(cls, *, config: Mapping[str, Any], organization_slug: str) -> None:
        """Raise ConnectorError when `config` (already schema-valid) may not be saved for this organisation,
        e.g. a CSV folder outside its own; the default accepts."""

    def check_credentials(self) -> None:
        """Raise ConnectorError when the connection cannot be used; the default accepts."""

    @abstractmethod
    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        """Yield pages of records of `object_type` changed since `cursor` (everything when `full`)."""

    def write_scores(self, *, updates: list[ScoreUpdate]) -> list[WriteResult]:
        raise ConnectorError(f"{self.label or self.name} does not support writing scores back")

    def parse_webhook(self, *, headers: Mapping[str, str], body: bytes) -> list[InboundEvent]:
        raise ConnectorError(f"{self.label or self.name} does not accept webhooks")
