"""Writeback: push each contact's current lead score into its CRM record, through the connection's connector.

Only what changed is written: a `ScoreWrite` row per (connection, contact) holds the last value sent and
whether the CRM took it, so an unchanged score costs no API call and a failed write is retried next run.
Contacts of other connections, deleted contacts and contacts without a current prediction are never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from crm_connectors.base import Connector, ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.models import CRMConnection, ScoreWrite
from crm_connectors.registry import connector_class_get
from crm_connectors.services import connection_credentials_save
from ml.models import Prediction
from ml.selectors import predictions_current_for_connection

logger = logging.getLogger(__name__)

# Updates handed to the connector per call; outcomes are saved after each chunk, so a crash loses little.
CHUNK_SIZE = 1000
LEAD_SCORE = "lead_score"  # the ScoreUpdate.values key connectors map to their score field
MAX_ERRORS_REPORTED = 10


@dataclass
class WritebackSummary:
    connection_id: int
    considered: int = 0  # contacts of the connection with a current score
    unchanged: int = 0  # already written with the same score: skipped
    written: int = 0
    failed: int = 0
    # A problem with the whole run (missing CRM field, quota, auth): the rest stays pending for the next run.
    error: str = ""
    record_errors: list[str] = field(default_factory=list)  # the first few per-record failures

    @property
    def ok(self) -> bool:
        return not self.error and not self.failed

    def as_text(self) -> str:
        lines = [
            (
                f"Writeback of connection {self.connection_id}: considered={self.considered} "
                f"written={self.written} unchanged={self.unchanged} failed={self.failed}"
            )
        ]
        if self.error:
            lines.append(f"error: {self.error}")
        lines.extend(f"  - {error}" for error in self.record_errors)
        if self.failed > len(self.record_errors):
            lines.append(f"  ... and {self.failed - len(self.record_errors)} more")
        return "\n".join(lines)


def connector_for_writeback(*, connection: CRMConnection) -> Connector:
    """The connection's connector, or ConnectorError when its CRM cannot take scores (a CSV folder)."""
    try:
        connector_class = connector_class_get(connection.kind)
    except KeyError:
        raise ConnectorError(f"unknown connector kind {connection.kind!r}") from None
    if not connector_class.supports_writeback:
        raise ConnectorError(
            f"{connector_class.label or connection.kind} connections cannot take scores back: "
            "writeback needs a CRM with an API (HubSpot, Salesforce, Pipedrive)"
        )
    connector = connector_class(config=connection.config, credentials=connection.credentials)
    connector.on_credentials_change = lambda credentials: connection_credentials_save(
        connection_id=connection.pk, credentials=credentials
    )
    return connector


def writeback_start(*, connection_id: int) -> None:
    """Queue a writeback of the connection once this transaction commits; ConnectorError when unsupported."""
    from crm_connectors.tasks import writeback_connection  # the task module imports this one

    connection = CRMConnection.objects.get(pk=connection_id)
    connector_for_writeback(connection=connection)  # refuse now, not silently in the worker
    transaction.on_commit(lambda: writeback_connection.delay(connection_id=connection_id))


def connection_writeback(*, connection_id: int) -> WritebackSummary:
    """Write every changed or previously failed current lead score of the connection into its CRM."""
    connection = CRMConnection.objects.get(pk=connection_id)
    connector = connector_for_writeback(connection=connection)
    summary = WritebackSummary(connection_id=connection_id)
    previous = {row.contact_id: row for row in ScoreWrite.objects.filter(connection_id=connection_id)}

    pending: list[Prediction] = []
    for prediction in predictions_current_for_connection(connection_id=connection_id).iterator(chunk_size=2000):
        summary.considered += 1
        prior = previous.get(prediction.contact_id)
        if (
            prior is not None
            and prior.status == ScoreWrite.Status.WRITTEN
            and prior.score == prediction.score
            and prior.external_id == prediction.contact.external_id
        ):
            summary.unchanged += 1
            continue
        pending.append(prediction)

    config_before = dict(connection.config)
    try:
        for start in range(0, len(pending), CHUNK_SIZE):
            chunk = pending[start : start + CHUNK_SIZE]
            updates = [
                ScoreUpdate(object_type="contacts", external_id=p.contact.external_id, values={LEAD_SCORE: p.score})
                for p in chunk
            ]
            try:
                results = connector.write_scores(updates=updates)
            except ConnectorError as exc:
                # The whole call failed (a missing field, quota, auth): record it on each record and stop.
                summary.error = str(exc)
                _outcomes_save(connection_id, chunk, previous, {}, default_error=str(exc), summary=summary)
                break
            by_id = {result.external_id: result for result in results}
            _outcomes_save(
                connection_id, chunk, previous, by_id, default_error="no answer from the CRM", summary=summary
            )
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()
        # A connector may have created the CRM field and remembered its key (Pipedrive): keep it.
        if connector.config != config_before:
            CRMConnection.objects.filter(pk=connection_id).update(config=connector.config)
    logger.info(
        "writeback connection=%s written=%s failed=%s unchanged=%s",
        connection_id,
        summary.written,
        summary.failed,
        summary.unchanged,
    )
    return summary


def _outcomes_save(
    connection_id: int,
    chunk: Iterable[Prediction],
    previous: dict[int, ScoreWrite],
    results: dict[str, WriteResult],
    *,
    default_error: str,
    summary: WritebackSummary,
) -> None:
    now = timezone.now()
    rows = []
    for prediction in chunk:
        contact = prediction.contact
        result = results.get(contact.external_id)
        prior = previous.get(contact.id)
        ok = result is not None and result.ok
        error = "" if ok else (result.error if result is not None and result.error else default_error)
        retried = prior is not None and prior.status == ScoreWrite.Status.FAILED and prior.score == prediction.score
        rows.append(
            ScoreWrite(
                connection_id=connection_id,
                contact_id=contact.id,
                external_id=contact.external_id,
                score=prediction.score,
                probability=prediction.probability,
                status=ScoreWrite.Status.WRITTEN if ok else ScoreWrite.Status.FAILED,
                error=error[:2000],
                attempts=(prior.attempts + 1) if retried else 1,
                written_at=now if ok else (prior.written_at if prior is not None else None),
                updated_at=now,
            )
        )
        if ok:
            summary.written += 1
        else:
            summary.failed += 1
            if len(summary.record_errors) < MAX_ERRORS_REPORTED:
                summary.record_errors.append(f"{contact.external_id}: {error}")
    ScoreWrite.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["connection", "contact"],
        update_fields=[
            "external_id",
            "score",
            "probability",
            "status",
            "error",
            "attempts",
            "written_at",
            "updated_at",
        ],
    )
