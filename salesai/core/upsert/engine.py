"""Validate records, resolve parent references, then write through the PostgreSQL or the ORM path."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connection as db_connection
from django.db import transaction

from salesai.core.models import Activity, Contact, Deal, ErasedPerson, SyncedRecord
from salesai.core.upsert.fields import InvalidValue, Spec
from salesai.core.upsert.orm import upsert_orm
from salesai.core.upsert.postgres import upsert_postgres
from salesai.core.upsert.records import LINE_KEY, ORM_CHUNK_SIZE, Row, RowError, UpsertResult, chunks

# Switch for tests that compare the PostgreSQL fast path with the generic ORM path on the same database.
POSTGRES_FAST_PATH = True

_RECORD_META_KEYS = frozenset({"external_id", LINE_KEY})


def bulk_upsert(spec: Spec, *, organization_id: int, connection_id: int, records: list[dict]) -> UpsertResult:
    result = UpsertResult()
    rows = _validate(spec, records, result)
    rows = _erased_left_out(spec, organization_id, connection_id, rows, result)
    rows = _resolve_parents(spec, connection_id, rows, result)
    changed: list[tuple[int, int]] = []  # (input index, row id) of created and updated rows
    if rows:
        with transaction.atomic():
            if POSTGRES_FAST_PATH and db_connection.vendor == "postgresql":
                upsert_postgres(spec, organization_id, connection_id, rows, result, changed)
            else:
                upsert_orm(spec, organization_id, connection_id, rows, result, changed)
    result.changed_ids = [row_id for _, row_id in sorted(changed)]
    result.errors.sort(key=lambda error: error.index)
    return result


def _validate(spec: Spec, records: list[dict], result: UpsertResult) -> list[Row]:
    normalizers = spec.normalizers
    text_limits = spec.text_limits
    parent_keys = {key for key, _, _ in spec.parents}
    seen: set[str] = set()
    rows: list[Row] = []
    for index, record in enumerate(records):
        line = record.get(LINE_KEY)
        external_id = record.get("external_id")
        if type(external_id) is not str or not external_id.strip():
            result.errors.append(RowError(index, "missing external_id", None, "external_id", line))
            continue
        if len(external_id) > 255 or "\x00" in external_id:
            reason = "external_id longer than 255 characters" if len(external_id) > 255 else "external_id contains NUL"
            result.errors.append(RowError(index, reason, None, "external_id", line))
            continue
        if external_id in seen:
            reason = "duplicate external_id in this batch"
            result.errors.append(RowError(index, reason, external_id, "external_id", line))
            continue
        seen.add(external_id)
        values: dict[str, Any] = {}
        error = None
        for key, raw in record.items():
            # Fast path for the common case, text that fits: no normalizer call.
            limit = text_limits.get(key)
            if limit is not None and type(raw) is str and len(raw) <= limit and "\x00" not in raw:
                values[key] = raw
                continue
            normalize = normalizers.get(key)
            if normalize is None:
                if key in parent_keys:
                    if raw is not None and type(raw) is not str:
                        error = RowError(index, f"expected text, got {type(raw).__name__}", external_id, key, line)
                        break
                    values[key] = raw or None
                    continue
                if key in _RECORD_META_KEYS:
                    continue
                # A connector bug, not bad data: fail loudly rather than silently dropping the value.
                raise ValueError(f"{spec.model.__name__} records have no field {key!r}")
            try:
                values[key] = normalize(raw)
            except InvalidValue as exc:
                error = RowError(index, str(exc), external_id, key, line)
                break
        if error is None:
            for name in spec.required:
                if name in values and (values[name] is None or values[name] == ""):
                    error = RowError(index, f"{name} is required", external_id, name, line)
                    break
        if error is not None:
            result.errors.append(error)
            continue
        rows.append(Row(index, external_id, values, line))
    return rows


def _erased_left_out(
    spec: Spec, organization_id: int, connection_id: int, rows: list[Row], result: UpsertResult
) -> list[Row]:
    """A person erased on request never comes back through a sync: a contact whose CRM id (in this
    connection) or email is tombstoned is left out, and so is an activity about them; a deal stays but
    loses its link to them."""
    if spec.model not in (Contact, Activity, Deal) or not rows:
        return rows
    tombstones = ErasedPerson.objects.filter(organization_id=organization_id)
    if not tombstones.exists():  # the usual case: one cheap query per batch
        return rows
    erased_ids = set(
        tombstones.filter(connection_id=connection_id).exclude(external_id="").values_list("external_id", flat=True)
    )
    if spec.model is Contact:
        digests = set(tombstones.exclude(email_sha256="").values_list("email_sha256", flat=True))
        kept = [
            row
            for row in rows
            if row.external_id not in erased_ids and ErasedPerson.email_key(row.values.get("email")) not in digests
        ]
    else:
        kept = []
        for row in rows:
            if row.values.get("contact_external_id") in erased_ids:
                if spec.model is Activity:
                    continue
                row.values["contact_external_id"] = None
            kept.append(row)
    result.erased += len(rows) - len(kept)
    return kept


def _resolve_parents(spec: Spec, connection_id: int, rows: list[Row], result: UpsertResult) -> list[Row]:
    """Swap `<parent>_external_id` keys for FK ids; rows naming an unknown parent become row errors."""
    if not spec.parents:
        return rows
    rejected: set[int] = set()
    for key, attname, parent_model in spec.parents:
        wanted = {row.values[key] for row in rows if row.values.get(key)}
        ids = _live_ids(parent_model, connection_id, wanted)
        for row in rows:
            if key not in row.values or row.index in rejected:
                continue
            reference = row.values.pop(key)
            if reference is None:
                row.values[attname] = None
            elif reference in ids:
                row.values[attname] = ids[reference]
            else:
                noun = parent_model._meta.verbose_name
                reason = f"unknown {noun} {reference!r}"
                result.errors.append(RowError(row.index, reason, row.external_id, key, row.line))
                rejected.add(row.index)
    return [row for row in rows if row.index not in rejected] if rejected else rows


def _live_ids(model: type[SyncedRecord], connection_id: int, external_ids: Collection[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    if db_connection.vendor == "postgresql":
        # One array parameter: a page names hundreds of parents, and an `__in` list costs Django (and the
        # query's parsing) a parameter each.
        with db_connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {model._meta.db_table} "
                "WHERE connection_id = %s AND deleted_at IS NULL AND external_id = ANY(%s)",
                [connection_id, list(external_ids)],
            )
            return dict(cursor.fetchall())
    ids: dict[str, int] = {}
    for chunk in chunks(list(external_ids), ORM_CHUNK_SIZE):
        ids.update(
            model.objects.filter(
                connection_id=connection_id, external_id__in=chunk, deleted_at__isnull=True
            ).values_list("external_id", "id")
        )
    return ids
