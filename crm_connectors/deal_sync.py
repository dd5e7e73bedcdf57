"""What the deal models need besides the deals themselves: each pipeline's stages (with the CRM's default win
probability) and the CRM's own history of deal fields, read once per deal (backfill).

Runs after a sync (`deal_reference_sync` task) or by hand (`manage.py crm_deal_history --connection <id>`).
A deal is backfilled once: it then has rows of source "backfill", and later changes arrive through the sync and
webhooks like any other. Connectors without the abilities ("deal_pipelines", "deal_history") are skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from crm_connectors.connections import connector_open
from crm_connectors.models import CRMConnection
from crm_connectors.registry import connector_class_get
from salesai.core.deal_history import FieldChange, deal_history_backfill, deal_tracked_values, history_text
from salesai.core.deal_reference import StageSpec, pipeline_stages_upsert
from salesai.core.models import Deal, DealHistory

logger = logging.getLogger(__name__)

BACKFILL_CHUNK = 100  # deals per history call into the connector


@dataclass
class DealSyncSummary:
    stages: int = 0
    deals_backfilled: int = 0
    history_rows: int = 0
    skipped: str = ""  # why nothing was done (a CRM without the abilities)


def deal_reference_wanted(*, connection_id: int) -> bool:
    """Whether the connection's CRM exposes deal pipelines or deal history (so a sync is followed by a read)."""
    kind = CRMConnection.objects.filter(pk=connection_id).values_list("kind", flat=True).first()
    try:
        return kind is not None and bool({"deal_pipelines", "deal_history"} & connector_class_get(kind).features)
    except KeyError:
        return False


def deal_reference_sync(*, connection_id: int, backfill_limit: int | None = None) -> DealSyncSummary:
    """Store the connection's pipeline stages and backfill the history of its deals not backfilled yet (at most
    `backfill_limit` deals per call; the rest next time)."""
    connection = CRMConnection.objects.select_related("organization").get(pk=connection_id)
    summary = DealSyncSummary()
    with connector_open(connection) as connector:
        features = type(connector).features
        if not {"deal_pipelines", "deal_history"} & features:
            summary.skipped = f"{connector.label or connector.name} exposes neither deal pipelines nor deal history"
            return summary
        if "deal_pipelines" in features:
            stages = connector.pipeline_stages()
            summary.stages = pipeline_stages_upsert(
                organization_id=connection.organization_id,
                stages=[
                    StageSpec(s.pipeline, s.stage, s.display_order, s.probability, s.is_closed, s.is_won)
                    for s in stages
                ],
            )
        if "deal_history" in features:
            pending = _deals_without_backfill(connection_id=connection_id, limit=backfill_limit)
            for start in range(0, len(pending), BACKFILL_CHUNK):
                chunk = dict(pending[start : start + BACKFILL_CHUNK])
                histories = connector.deal_history_fetch(external_ids=list(chunk))
                current = deal_tracked_values(connection_id=connection_id, external_ids=list(histories))
                for external_id, values in histories.items():
                    deal_id, created = chunk.get(external_id, (None, None))
                    if deal_id is None or external_id not in current:
                        continue
                    changes = [FieldChange(v.field, v.value, v.changed_at or created) for v in values]
                    # A field the CRM reports no change of has held today's value since the deal was created
                    # (for fields a CRM keeps no history of, such as Salesforce's owner, an approximation).
                    reported = {v.field for v in values}
                    changes += [
                        FieldChange(name, history_text(value), created)
                        for name, value in current[external_id].items()
                        if name not in reported
                    ]
                    summary.history_rows += deal_history_backfill(
                        organization_id=connection.organization_id, deal_id=deal_id, changes=changes
                    )
                    summary.deals_backfilled += 1
    logger.info(
        "deal reference sync connection=%s stages=%s backfilled=%s rows=%s",
        connection_id,
        summary.stages,
        summary.deals_backfilled,
        summary.history_rows,
    )
    return summary


def _deals_without_backfill(*, connection_id: int, limit: int | None) -> list[tuple[str, tuple[int, dt.datetime]]]:
    """(CRM id, (deal id, when the deal was created)) of the live deals with no backfilled history yet."""
    backfilled = DealHistory.objects.filter(
        deal__connection_id=connection_id, source=DealHistory.Source.BACKFILL
    ).values("deal_id")
    deals = (
        Deal.objects.filter(connection_id=connection_id, deleted_at__isnull=True)
        .exclude(pk__in=backfilled)
        .order_by("pk")
        .values_list("external_id", "id", "remote_created_at", "created_at")
    )
    rows = deals[:limit] if limit else deals
    return [(external_id, (deal_id, remote or local)) for external_id, deal_id, remote, local in rows]
