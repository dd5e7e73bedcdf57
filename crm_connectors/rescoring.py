"""Changed CRM records get fresh lead scores: a sync that changed contacts asks ML to rescore them.

DESIGN.md lets crm_connectors enqueue ml tasks (ml never imports crm_connectors). The scoring task itself
skips quietly while the organisation has no champion model yet.
"""

from typing import Any

from django.conf import settings

from ml.services import scoring_enqueue


def rescore_changed_contacts(*, organization_id: int, contact_ids: list[int], **_: Any) -> None:
    if not contact_ids:
        return
    # A huge id list makes a huge broker message; past the limit, rescoring every open lead is cheaper.
    ids = contact_ids if len(contact_ids) <= settings.RESCORE_CONTACT_IDS_LIMIT else None
    scoring_enqueue(organization_id=organization_id, contact_ids=ids)
