"""The glue between syncing and scoring, in the direction DESIGN.md allows (crm_connectors -> ml).

- A sync or webhook that changed contacts asks ML to rescore them (the scoring task skips quietly while
  the organisation has no champion model yet).
- New scores are written back to every CRM connection of the organisation that can take them.
"""

import logging
from typing import Any

from django.conf import settings

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection
from crm_connectors.registry import connector_class_get
from crm_connectors.writeback import writeback_start
from ml.scoring_services import scoring_enqueue

logger = logging.getLogger(__name__)


def rescore_changed_contacts(*, organization_id: int, contact_ids: list[int], **_: Any) -> None:
    if not contact_ids:
        return
    # A huge id list makes a huge broker message; past the limit, rescoring every open lead is cheaper.
    ids = contact_ids if len(contact_ids) <= settings.RESCORE_CONTACT_IDS_LIMIT else None
    scoring_enqueue(organization_id=organization_id, contact_ids=ids)


def write_back_new_scores(*, organization_id: int, **_: Any) -> None:
    connections = CRMConnection.objects.filter(organization_id=organization_id, is_active=True)
    for connection in connections:
        try:
            if "writeback" not in connector_class_get(connection.kind).features:
                continue
            writeback_start(connection_id=connection.pk)
        except (ConnectorError, KeyError) as exc:  # misconfigured connection: its own runs report it
            logger.warning("no writeback for connection %s: %s", connection.pk, exc)
