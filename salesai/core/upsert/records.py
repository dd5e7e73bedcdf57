"""The result types of a bulk upsert and the small shared helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Rows per ORM statement: keeps SQLite under its bound-parameter limit.
ORM_CHUNK_SIZE = 500
# Where a record came from (a CSV line): echoed back in row errors, never stored.
LINE_KEY = "_line"


@dataclass(frozen=True)
class RowError:
    """One rejected record: `index` in the input list, `field` the canonical field at fault (if any)."""

    index: int
    reason: str
    external_id: str | None = None
    field: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "line": self.line,
            "field": self.field,
            "external_id": self.external_id,
            "reason": self.reason,
        }


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Every accepted record's row id (created, updated and unchanged alike).
    ids_by_external_id: dict[str, int] = field(default_factory=dict)
    # Ids of rows that were created or updated (including undeleted), in input order.
    changed_ids: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # Records of people erased on request (ErasedPerson), left out: neither written nor reported as errors.
    erased: int = 0

    @property
    def failed(self) -> int:
        return len(self.errors)


@dataclass
class Row:
    """A validated record: `values` holds attname -> normalized value for the fields the record carries."""

    index: int
    external_id: str
    values: dict[str, Any]
    line: int | None


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
