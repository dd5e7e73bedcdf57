"""Hooks other apps connect to without this app importing them (ML rescoring listens here).

`records_changed` is sent for a sync run (or processed webhook event) that created, updated or undeleted rows,
once their pages are committed: a large run sends it in chunks (as soon as `sync.ANNOUNCE_CHUNK_IDS` changed
ids are committed; each id once) and the rest after its last page, with keyword arguments:

- `organization_id`, `connection_id`: ints; `sync_run_id`: int, or None when a webhook caused the change;
- `contact_ids`: sorted ids of contacts that changed themselves or whose deals/activities changed;
- `company_ids`: sorted ids of companies that changed.

`records_changed_announce` is the one way to send it (sync and webhook processing alike).
"""

import logging

from django.db import transaction
from django.dispatch import Signal

from crm_connectors.models import CRMConnection

logger = logging.getLogger(__name__)

records_changed = Signal()


def records_changed_announce(
    *,
    organization_id: int,
    connection_id: int,
    sync_run_id: int | None,
    contact_ids: list[int],
    company_ids: list[int],
) -> None:
    """Send `records_changed` once the current transaction commits (nothing when no id changed). A failing
    listener (say, ML scoring) is logged: it never turns a finished sync or webhook into an error."""
    if not contact_ids and not company_ids:
        return

    def send() -> None:
        for receiver, outcome in records_changed.send_robust(
            sender=CRMConnection,
            organization_id=organization_id,
            connection_id=connection_id,
            sync_run_id=sync_run_id,
            contact_ids=contact_ids,
            company_ids=company_ids,
        ):
            if isinstance(outcome, Exception):
                logger.error("records_changed receiver %r failed", receiver, exc_info=outcome)

    transaction.on_commit(send)
