"""Writeback: push each contact's current lead score, then each company's current churn risk, then each deal's
win probability and expected close, into the CRM through the connection's connector.

Only what changed is written: a `ScoreWrite` row per (connection, contact) and a `CompanyScoreWrite` row per
(connection, company) hold the last value sent and whether the CRM took it, so an unchanged value costs no API
call and a failed write is retried next run. Records of other connections, deleted records and records without
a current prediction are never sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm_connectors.base import EXPECTED_CLOSE, WIN_PROBABILITY, Connector, ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.connections import connector_open
from crm_connectors.models import CompanyScoreWrite, CRMConnection, DealScoreWrite, ScoreWrite
from crm_connectors.registry import connector_class_get
from crm_connectors.schedules import WRITEBACK_TASK_NAME, task_by_name
from ml.models import Prediction, Task
from ml.selectors import predictions_current_churn_for_connection, predictions_current_for_connection

logger = logging.getLogger(__name__)

# Updates handed to the connector per call; outcomes are saved after each chunk, so a crash loses little.
CHUNK_SIZE = 1000
LEAD_SCORE = "lead_score"  # the ScoreUpdate.values key connectors map to their score field
CHURN_RISK = "churn_risk"  # the ScoreUpdate.values key connectors map to their company churn field
MAX_ERRORS_REPORTED = 10
_UPDATE_KEYS = {"expected_close": EXPECTED_CLOSE}  # outcome-row field -> ScoreUpdate.values key


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _deal_predictions_current(*, connection_id: int) -> QuerySet[Prediction]:
    """Current deal predictions (written by the deal model with `deal` set) of the connection's live deals."""
    return (
        Prediction.objects.filter(
            task=Task.DEAL_WIN, is_current=True, deal__connection_id=connection_id, deal__deleted_at__isnull=True
        )
        .select_related("deal")
        .order_by("deal_id")
    )


@dataclass
class WritebackCounts:
    """How one kind of value fared in a run (lead scores into contacts, churn risk into companies)."""

    considered: int = 0  # records of the connection with a current prediction
    unchanged: int = 0  # already written with the same value: skipped
    written: int = 0
    failed: int = 0
    # A problem with the whole part (missing CRM field, quota, auth): its rest stays pending for the next run.
    error: str = ""
    record_errors: list[str] = field(default_factory=list)  # the first few per-record failures

    @property
    def ok(self) -> bool:
        return not self.error and not self.failed

    def counts_text(self) -> str:
        return f"considered={self.considered} written={self.written} unchanged={self.unchanged} failed={self.failed}"

    def detail_lines(self) -> list[str]:
        lines = [f"error: {self.error}"] if self.error else []
        lines.extend(f"  - {error}" for error in self.record_errors)
        if self.failed > len(self.record_errors):
            lines.append(f"  ... and {self.failed - len(self.record_errors)} more")
        return lines


@dataclass
class WritebackSummary(WritebackCounts):
    """The lead-score part at the top level (what callers have always read), the churn part in `churn`."""

    connection_id: int = 0
    churn: WritebackCounts = field(default_factory=WritebackCounts)
    deals: WritebackCounts = field(default_factory=WritebackCounts)  # win probability and expected close

    @property
    def ok(self) -> bool:
        return super().ok and self.churn.ok and self.deals.ok

    def as_text(self) -> str:
        lines = [f"Writeback of connection {self.connection_id}: {self.counts_text()}", *self.detail_lines()]
        lines.append(f"churn risk: {self.churn.counts_text()}")
        lines.extend(self.churn.detail_lines())
        lines.append(f"deal scores: {self.deals.counts_text()}")
        lines.extend(self.deals.detail_lines())
        return "\n".join(lines)


def _no_extra(prediction: Prediction) -> dict[str, Any]:
    return {}


def _deal_extra(prediction: Prediction) -> dict[str, Any]:
    """The expected close a deal prediction carries (details["expected_close"], "YYYY-MM-DD"), as a date."""
    text = (prediction.details or {}).get("expected_close") if isinstance(prediction.details, dict) else None
    try:
        return {"expected_close": dt.date.fromisoformat(str(text)[:10]) if text else None}
    except ValueError:
        return {"expected_close": None}


@dataclass(frozen=True)
class _Part:
    """One kind of value written back: where its outcomes are kept and which CRM records it goes into."""

    model: type[ScoreWrite] | type[CompanyScoreWrite] | type[DealScoreWrite]
    record_field: str  # the Prediction (and outcome row) field naming the record: contact, company or deal
    object_type: str  # ScoreUpdate.object_type
    value_key: str  # ScoreUpdate.values key of the score
    # Values written beside the score, kept on the outcome row and compared like it (a deal's expected close).
    extra: Callable[[Prediction], dict[str, Any]] = _no_extra


LEAD_PART = _Part(ScoreWrite, "contact", "contacts", LEAD_SCORE)
CHURN_PART = _Part(CompanyScoreWrite, "company", "companies", CHURN_RISK)
DEAL_PART = _Part(DealScoreWrite, "deal", "deals", WIN_PROBABILITY, extra=_deal_extra)


def writeback_check(*, kind: str) -> type[Connector]:
    """The kind's connector class, or ConnectorError when its CRM cannot take scores (a CSV folder)."""
    try:
        connector_class = connector_class_get(kind)
    except KeyError:
        raise ConnectorError(f"unknown connector kind {kind!r}") from None
    if "writeback" not in connector_class.features:
        raise ConnectorError(
            f"{connector_class.label or kind} connections cannot take scores back: "
            "writeback needs a CRM with an API (HubSpot, Salesforce, Pipedrive)"
        )
    return connector_class


def writeback_start(*, connection_id: int) -> None:
    """Queue a writeback of the connection once this transaction commits; ConnectorError when unsupported."""
    connection = CRMConnection.objects.get(pk=connection_id)
    writeback_check(kind=connection.kind)  # refuse now, not silently in the worker
    # By name: the task module imports this one.
    transaction.on_commit(lambda: task_by_name(WRITEBACK_TASK_NAME).delay(connection_id=connection_id))


def connection_writeback(*, connection_id: int) -> WritebackSummary:
    """Write every changed or previously failed current lead score, then churn risk, of the connection."""
    connection = CRMConnection.objects.select_related("organization").get(pk=connection_id)
    writeback_check(kind=connection.kind)
    summary = WritebackSummary(connection_id=connection_id)
    config_before = dict(connection.config)
    with connector_open(connection) as connector:
        try:
            _part_write(
                connection_id,
                connector,
                LEAD_PART,
                predictions_current_for_connection(connection_id=connection_id),
                counts=summary,
            )
            # A lead-score problem (say, a missing contact field) says nothing about the company field: go on.
            _part_write(
                connection_id,
                connector,
                CHURN_PART,
                predictions_current_churn_for_connection(connection_id=connection_id),
                counts=summary.churn,
            )
            _part_write(
                connection_id,
                connector,
                DEAL_PART,
                _deal_predictions_current(connection_id=connection_id),
                counts=summary.deals,
            )
        finally:
            # A connector may have created a CRM field and remembered its key (Pipedrive): keep it.
            if connector.config != config_before:
                CRMConnection.objects.filter(pk=connection_id).update(config=connector.config)
    logger.info(
        "writeback connection=%s written=%s failed=%s unchanged=%s churn_written=%s churn_failed=%s churn_unchanged=%s "
        "deals_written=%s deals_failed=%s deals_unchanged=%s",
        connection_id,
        summary.written,
        summary.failed,
        summary.unchanged,
        summary.churn.written,
        summary.churn.failed,
        summary.churn.unchanged,
        summary.deals.written,
        summary.deals.failed,
        summary.deals.unchanged,
    )
    return summary


def _part_write(
    connection_id: int,
    connector: Connector,
    part: _Part,
    predictions: QuerySet[Prediction],
    *,
    counts: WritebackCounts,
) -> None:
    id_field = f"{part.record_field}_id"
    previous = {getattr(row, id_field): row for row in part.model.objects.filter(connection_id=connection_id)}

    pending: list[Prediction] = []
    for prediction in predictions.iterator(chunk_size=2000):
        counts.considered += 1
        prior = previous.get(getattr(prediction, id_field))
        if (
            prior is not None
            and prior.status == ScoreWrite.Status.WRITTEN
            and prior.score == prediction.score
            and prior.external_id == getattr(prediction, part.record_field).external_id
            and all(getattr(prior, name) == value for name, value in part.extra(prediction).items())
        ):
            counts.unchanged += 1
            continue
        pending.append(prediction)

    for start in range(0, len(pending), CHUNK_SIZE):
        chunk = pending[start : start + CHUNK_SIZE]
        updates = [
            ScoreUpdate(
                object_type=part.object_type,
                external_id=getattr(p, part.record_field).external_id,
                values={
                    part.value_key: p.score,
                    **{_UPDATE_KEYS[name]: _wire(value) for name, value in part.extra(p).items()},
                },
            )
            for p in chunk
        ]
        try:
            results = connector.write_scores(updates=updates)
        except ConnectorError as exc:
            # The whole call failed (a missing field, quota, auth): record it on each record and stop.
            counts.error = str(exc)
            _outcomes_save(connection_id, part, chunk, previous, {}, default_error=str(exc), counts=counts)
            return
        by_id = {result.external_id: result for result in results}
        _outcomes_save(
            connection_id, part, chunk, previous, by_id, default_error="no answer from the CRM", counts=counts
        )


def _outcomes_save(
    connection_id: int,
    part: _Part,
    chunk: list[Prediction],
    previous: dict[int, ScoreWrite | CompanyScoreWrite],
    results: dict[str, WriteResult],
    *,
    default_error: str,
    counts: WritebackCounts,
) -> None:
    now = timezone.now()
    rows = []
    for prediction in chunk:
        record = getattr(prediction, part.record_field)
        result = results.get(record.external_id)
        prior = previous.get(record.id)
        ok = result is not None and result.ok
        error = "" if ok else (result.error if result is not None and result.error else default_error)
        extra = part.extra(prediction)
        retried = (
            prior is not None
            and prior.status == ScoreWrite.Status.FAILED
            and prior.score == prediction.score
            and all(getattr(prior, name) == value for name, value in extra.items())
        )
        rows.append(
            part.model(
                **extra,
                connection_id=connection_id,
                external_id=record.external_id,
                score=prediction.score,
                probability=prediction.probability,
                status=ScoreWrite.Status.WRITTEN if ok else ScoreWrite.Status.FAILED,
                error=error[:2000],
                attempts=(prior.attempts + 1) if retried else 1,
                written_at=now if ok else (prior.written_at if prior is not None else None),
                updated_at=now,
                **{f"{part.record_field}_id": record.id},
            )
        )
        if ok:
            counts.written += 1
        else:
            counts.failed += 1
            if len(counts.record_errors) < MAX_ERRORS_REPORTED:
                counts.record_errors.append(f"{record.external_id}: {error}")
    part.model.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["connection", part.record_field],
        update_fields=[
            "external_id",
            "score",
            "probability",
            "status",
            "error",
            "attempts",
            "written_at",
            "updated_at",
            *(part.extra(chunk[0]) if chunk else ()),
        ],
    )
