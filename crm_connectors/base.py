"""The one interface every CRM connector implements.

A connector knows its CRM's wire format and nothing about our database: it yields pages of records
already mapped to our canonical fields, and the sync engine (`crm_connectors.sync`) writes them through
`salesai.core` services and saves the cursor after each committed page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType, TracebackType
from typing import Any, ClassVar, Self

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


# The ScoreUpdate.values keys of a deal score: win probability 0-100 and expected close ("YYYY-MM-DD" or None).
WIN_PROBABILITY = "win_probability"
EXPECTED_CLOSE = "expected_close"


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
class StageInfo:
    """One stage of one deal pipeline as the CRM defines it (names differ per pipeline)."""

    pipeline: str
    stage: str  # the value deals carry in their `stage` field
    display_order: int
    probability: float | None  # the CRM's default win probability 0..1; None when it has none
    is_closed: bool
    is_won: bool


@dataclass(frozen=True)
class FieldValue:
    """One value a deal field took in the CRM, and since when (history backfill). `field` is a canonical deal
    field (stage, amount, currency, close_date, owner_email, status, pipeline); `value` as deal history stores
    it ("" for none, ISO dates, plain decimals)."""

    field: str
    value: str
    changed_at: datetime | None  # None: the value the deal had since it was created (before its first change)


@dataclass(frozen=True)
class InboundEvent:
    event_id: str
    payload: dict[str, Any]


# The optional abilities a connector may declare in `features`; the engines check these, never `hasattr`.
FEATURES: frozenset[str] = frozenset(
    {
        "writeback",  # write_scores: lead scores into contacts, churn risk into companies
        "webhooks",  # `webhook`: the CRM's webhook module (verify, parse, event_plan, acknowledgement)
        "records_fetch",  # records_fetch: re-read records by id (webhook hints with partial payloads)
        "records_map",  # records_map: map complete raw records a webhook carried
        "source_columns",  # source_column: rows come from files whose columns are named in row errors (CSV)
        "reconcile",  # a periodic full sync finds records deleted without a trace (an API listing)
        "deal_pipelines",  # pipeline_stages: every deal pipeline's stages with their default probabilities
        "deal_history",  # deal_history_fetch: the CRM's own history of deal fields (backfill)
    }
)


class Connector(ABC):
    """One CRM. Built and closed by `crm_connectors.connections.connector_open` (a context manager, as is the
    connector itself); `iter_changes` is the one method every connector has, the others belong to `features`."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # JSON schema of the connection's non-secret `config`.
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # The optional abilities this connector implements (a subset of FEATURES).
    features: ClassVar[frozenset[str]] = frozenset()
    # With "webhooks": the CRM's webhook module (the functions listed in `crm_connectors.webhook_types`).
    webhook: ClassVar[ModuleType | None] = None
    # Hosts the vendor's API lives on ("api.example.com", ".example.com" for subdomains): the only ones its HTTP
    # client (crm_connectors.http) and its URL config may name, unless the deployment's CRM_ALLOWED_HOSTS adds more.
    api_hosts: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.features) - FEATURES
        if unknown:
            raise TypeError(f"{cls.__qualname__} declares unknown features {sorted(unknown)}")

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.credentials = dict(credentials)
        # Set by whoever runs the connector (`connector_open`); called with the complete new credentials after an
        # OAuth refresh, so a rotated refresh token is saved before the old one stops working.
        self.on_credentials_change: Callable[[dict[str, Any]], None] | None = None
        # The slug of the organisation whose connection this is (`registry.connector_build`). Connectors that
        # read local files (CSV) stay inside that organisation's folder and refuse to work without it.
        self.organization_slug: str = ""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @classmethod  # noqa: B027 - optional: the default accepts
    def config_check(cls, *, config: Mapping[str, Any], organization_slug: str) -> None:
        """Raise ConnectorError when `config` (already schema-valid) may not be saved for this organisation,
        e.g. a CSV folder outside its own; the default accepts."""

    def check_credentials(self) -> None:  # noqa: B027 - optional: the default accepts
        """Raise ConnectorError when the connection cannot be used; the default accepts."""

    def close(self) -> None:  # noqa: B027 - optional: the default holds nothing
        """Release what the connector holds (its HTTP client); safe to call twice. The default holds nothing."""

    @abstractmethod
    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        """Yield pages of records of `object_type` changed since `cursor` (everything when `full`)."""

    # --- optional abilities: implemented by the connectors whose `features` name them ---------------------------

    def write_scores(self, *, updates: list[ScoreUpdate]) -> list[WriteResult]:
        """With "writeback": write the updates' values into the CRM; one result per update."""
        raise ConnectorError(f"{self.label or self.name} does not support writing scores back")

    def records_fetch(self, *, object_type: str, external_ids: list[str]) -> ChangePage:
        """With "records_fetch": the current state of these records (ids the CRM no longer has: deleted)."""
        raise ConnectorError(f"{self.label or self.name} cannot re-read records by id")

    def records_map(
        self, *, object_type: str, raw_records: list[dict[str, Any]], kind: str | None = None
    ) -> ChangePage:
        """With "records_map": complete raw CRM records (as a webhook carried them) mapped to a page."""
        raise ConnectorError(f"{self.label or self.name} cannot map raw records")

    def pipeline_stages(self) -> list[StageInfo]:
        """With "deal_pipelines": every deal pipeline's stages."""
        raise ConnectorError(f"{self.label or self.name} cannot list deal pipelines")

    def deal_history_fetch(self, *, external_ids: list[str]) -> dict[str, list[FieldValue]]:
        """With "deal_history": deal id -> the values its tracked fields took, oldest or newest first (any order);
        deals the CRM does not know are left out."""
        raise ConnectorError(f"{self.label or self.name} cannot read deal history")

    def source_column(self, *, object_type: str, field: str) -> str | None:
        """With "source_columns": the input column a canonical field was read from (None: not known)."""
        return None
