"""The PostgreSQL upsert path: COPY into a temp table, then one INSERT ... ON CONFLICT per field set."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator

from django.db import connection as db_connection
from django.utils import timezone

from salesai.core.models import SyncedRecord
from salesai.core.upsert.fields import Spec, missing_required
from salesai.core.upsert.records import ORM_CHUNK_SIZE, Row, RowError, UpsertResult, chunks

_TEMP_TABLE = "salesai_upsert_batch"


def upsert_postgres(
    spec: Spec,
    organization_id: int,
    connection_id: int,
    rows: list[Row],
    result: UpsertResult,
    changed: list[tuple[int, int]],
) -> None:
    """COPY the batch into a temp table, then one statement that finds the unchanged rows and upserts the rest.

    Unchanged rows are filtered out before the INSERT ... ON CONFLICT DO UPDATE, so they are neither
    rewritten nor even locked; `xmax = 0` tells freshly inserted rows from updated ones.
    """
    model = spec.model
    quote = db_connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = spec.columns
    now = timezone.now()

    # A new row must carry its required fields; checked here as the ORM path does, before any write.
    ok_rows: list[Row] = []
    existing = _existing_external_ids(model, connection_id, [r.external_id for r in rows if missing_required(spec, r)])
    for row in rows:
        missing = missing_required(spec, row)
        if missing and row.external_id not in existing:
            result.errors.append(RowError(row.index, f"{missing} is required", row.external_id, missing, row.line))
        else:
            ok_rows.append(row)
    if not ok_rows:
        return

    # Rows are grouped by which fields they carry: only those are compared and written on conflict.
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in ok_rows:
        groups.setdefault(tuple(sorted(row.values)), []).append(row)

    by_external_id = {row.external_id: row for row in ok_rows}
    column_sql = ", ".join(quote(c) for c in columns)
    with db_connection.cursor() as cursor:
        for present, group in groups.items():
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLE}")
            cursor.execute(
                f"CREATE TEMP TABLE {_TEMP_TABLE} AS SELECT external_id, {column_sql} FROM {table} WITH NO DATA"
            )
            with cursor.cursor.copy(f"COPY {_TEMP_TABLE} (external_id, {column_sql}) FROM STDIN") as copy:
                for values in _copy_rows(spec, group):
                    copy.write_row(values)

            present_sql = [quote(c) for c in present]
            set_sql = "".join(f"{c} = EXCLUDED.{c}, " for c in present_sql)
            stored = ", ".join(["m.deleted_at"] + [f"m.{c}" for c in present_sql])
            incoming = ", ".join(["NULL::timestamptz"] + [f"t.{c}" for c in present_sql])
            select_sql = ", ".join(f"t.{quote(c)}" for c in columns)
            cursor.execute(
                f"""
                WITH unchanged AS (
                    SELECT m.id, m.external_id FROM {_TEMP_TABLE} t
                    CROSS JOIN LATERAL (
                        -- LIMIT keeps this a per-row unique-index probe: a join could hash the whole
                        -- connection's rows for every page when the table's statistics are stale.
                        SELECT * FROM {table} m
                        WHERE m.connection_id = %(connection_id)s AND m.external_id = t.external_id LIMIT 1
                    ) m
                    WHERE ROW({stored}) IS NOT DISTINCT FROM ROW({incoming})
                ), up AS (
                    INSERT INTO {table} (organization_id, connection_id, external_id, {column_sql},
                                         deleted_at, created_at, updated_at)
                    SELECT %(organization_id)s, %(connection_id)s, t.external_id, {select_sql}, NULL, %(now)s, %(now)s
                    FROM {_TEMP_TABLE} t
                    WHERE NOT EXISTS (SELECT 1 FROM unchanged u WHERE u.external_id = t.external_id)
                    ON CONFLICT (connection_id, external_id) DO UPDATE
                    SET {set_sql}deleted_at = NULL, updated_at = EXCLUDED.updated_at
                    RETURNING id, external_id, (xmax = 0) AS inserted
                )
                SELECT id, external_id, inserted FROM up
                UNION ALL
                SELECT id, external_id, NULL FROM unchanged
                """,
                {"organization_id": organization_id, "connection_id": connection_id, "now": now},
            )
            for row_id, external_id, inserted in cursor.fetchall():
                result.ids_by_external_id[external_id] = row_id
                if inserted is None:
                    result.unchanged += 1
                    continue
                if inserted:
                    result.created += 1
                else:
                    result.updated += 1
                changed.append((by_external_id[external_id].index, row_id))
            cursor.execute(f"DROP TABLE {_TEMP_TABLE}")


_json_encode = json.JSONEncoder(ensure_ascii=False).encode


def _copy_rows(spec: Spec, rows: list[Row]) -> Iterator[tuple]:
    """Each row as a COPY row: external_id then `spec.columns`, absent fields as the model default.

    psycopg formats the values (in C) and None becomes NULL: text fields never hold None (their normalizer
    and default give ""), so only the nullable columns receive NULLs."""
    pick = operator.itemgetter(*spec.columns)
    defaults = {column: spec.defaults.get(column) for column in spec.columns}
    for row in rows:
        values = {**defaults, **row.values}
        properties = values["properties"]
        values["properties"] = _json_encode(properties) if properties else "{}"
        yield (row.external_id, *pick(values))


def _existing_external_ids(model: type[SyncedRecord], connection_id: int, external_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(external_ids, ORM_CHUNK_SIZE):
        found.update(
            model.objects.filter(connection_id=connection_id, external_id__in=chunk).values_list(
                "external_id", flat=True
            )
        )
    return found
