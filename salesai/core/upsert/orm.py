"""The generic upsert path (SQLite and any other database) through the ORM, in chunks."""

from __future__ import annotations

from django.utils import timezone

from salesai.core.models import SyncedRecord
from salesai.core.upsert.fields import Spec, missing_required
from salesai.core.upsert.records import ORM_CHUNK_SIZE, Row, RowError, UpsertResult, chunks


def upsert_orm(
    spec: Spec,
    organization_id: int,
    connection_id: int,
    rows: list[Row],
    result: UpsertResult,
    changed: list[tuple[int, int]],
) -> None:
    model = spec.model
    now = timezone.now()
    for chunk in chunks(rows, ORM_CHUNK_SIZE):
        existing = {
            obj.external_id: obj
            for obj in model.objects.filter(connection_id=connection_id, external_id__in=[r.external_id for r in chunk])
        }
        to_create: list[tuple[Row, SyncedRecord]] = []
        to_update: list[tuple[int, dict]] = []
        for row in chunk:
            obj = existing.get(row.external_id)
            if obj is None:
                missing = missing_required(spec, row)
                if missing:
                    reason = f"{missing} is required"
                    result.errors.append(RowError(row.index, reason, row.external_id, missing, row.line))
                    continue
                new = model(organization_id=organization_id, connection_id=connection_id, external_id=row.external_id)
                for attname, value in row.values.items():
                    setattr(new, attname, value)
                to_create.append((row, new))
                continue
            differs = obj.deleted_at is not None or any(
                getattr(obj, attname) != value for attname, value in row.values.items()
            )
            if differs:
                to_update.append((obj.pk, {**row.values, "deleted_at": None, "updated_at": now}))
                result.updated += 1
                changed.append((row.index, obj.pk))
            else:
                result.unchanged += 1
            result.ids_by_external_id[row.external_id] = obj.pk
        if to_create:
            model.objects.bulk_create([obj for _, obj in to_create])
            for row, obj in to_create:
                result.ids_by_external_id[row.external_id] = obj.pk
                changed.append((row.index, obj.pk))
            result.created += len(to_create)
        # One UPDATE per changed row: Django's bulk_update builds a CASE per column and row, which is
        # CPU-bound (minutes for a few thousand rows); plain updates inside the page's transaction are fast.
        for pk, values in to_update:
            model.objects.filter(pk=pk).update(**values)
