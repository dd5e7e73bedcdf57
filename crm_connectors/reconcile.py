"""Id-set reconciliation without holding the id set: a full listing's ids go to a temporary table.

A connector that lists every live record of a type from the start marks its pages' ids
(`ChangePage.listed_external_ids`) and its last page (`listing_complete`). The engine adds each committed
page's ids to a temporary table of its database session and, when the listing is complete, soft-deletes the
connection's live rows the table does not name: memory stays flat however many records the CRM holds.

The table lives as long as the database session. Behind a pooler that hands each transaction another
session (PgBouncer in transaction mode) the table would not hold every id, so the rows are counted: a table
with fewer ids than were added is never used to delete anything (the run logs a warning instead).
"""

from __future__ import annotations

import logging

from django.db import connection as db_connection

from salesai.core.models import SyncedRecord
from salesai.core.services import records_soft_delete

logger = logging.getLogger(__name__)

INSERT_CHUNK = 500  # ids per INSERT statement (well under SQLite's bound-parameter limit)


class ListedIds:
    """The ids one object type's listing named in this run, in a temporary table."""

    def __init__(self, *, connection_id: int, object_type: str) -> None:
        if not object_type.isidentifier():
            raise ValueError(f"bad object type {object_type!r}")
        self.table = f"salesai_listed_{int(connection_id)}_{object_type}"
        self.connection_id = connection_id
        self.added = 0  # ids added (distinct per page), counted here to check the table against

    def reset(self) -> None:
        with db_connection.cursor() as cursor:
            if _copies():
                # COPY cannot skip duplicates, so PostgreSQL's table has a plain index rather than a key: a
                # listing that names an id twice stores it twice, and the count below is of rows added.
                cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.table} (external_id VARCHAR(255))")
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_idx ON {self.table} (external_id)")
            else:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.table} (external_id VARCHAR(255) PRIMARY KEY)"
                )
            cursor.execute(f"DELETE FROM {self.table}")
        self.added = 0

    def add(self, external_ids: list[str]) -> None:
        """Inside the page's transaction: a page rolled back takes its ids with it."""
        unique = list(dict.fromkeys(str(external_id) for external_id in external_ids))
        if _copies():
            with (
                db_connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {self.table} (external_id) FROM STDIN") as copy,
            ):
                for external_id in unique:
                    copy.write_row((external_id,))
            self.added += len(unique)
            return
        with db_connection.cursor() as cursor:
            for start in range(0, len(unique), INSERT_CHUNK):
                chunk = unique[start : start + INSERT_CHUNK]
                values = ", ".join(["(%s)"] * len(chunk))
                cursor.execute(f"INSERT INTO {self.table} (external_id) VALUES {values} ON CONFLICT DO NOTHING", chunk)
                self.added += max(cursor.rowcount, 0)

    def reconcile(self, *, model: type[SyncedRecord]) -> int:
        """Soft-delete the connection's live rows of `model` the listing did not name; how many."""
        meta = model._meta
        table, external_id = meta.db_table, meta.get_field("external_id").column
        connection_column, deleted_at = meta.get_field("connection").column, meta.get_field("deleted_at").column
        with db_connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
            (stored,) = cursor.fetchone()
            if stored != self.added:
                logger.warning(
                    "reconciliation of connection %s skipped: %s of %s listed ids in the session's table "
                    "(a pooler switching sessions between transactions?)",
                    self.connection_id,
                    stored,
                    self.added,
                )
                return 0
            # Only the vanished ids come back: as many as the CRM deleted, not as many as it holds.
            cursor.execute(
                f"SELECT m.{external_id} FROM {table} m WHERE m.{connection_column} = %s AND m.{deleted_at} IS NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {self.table} l WHERE l.external_id = m.{external_id})",
                [self.connection_id],
            )
            vanished = [row[0] for row in cursor.fetchall()]
        return records_soft_delete(model=model, connection_id=self.connection_id, external_ids=vanished)

    def drop(self) -> None:
        with db_connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


def _copies() -> bool:
    return db_connection.vendor == "postgresql"
