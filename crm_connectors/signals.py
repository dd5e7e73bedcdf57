"""Hooks other apps connect to without this app importing them (ML rescoring listens here).

`records_changed` is sent for a sync run (or processed webhook event) that created, updated or undeleted rows,
once their pages are committed: a large run sends it in chunks (as soon as `sync.ANNOUNCE_CHUNK_IDS` changed
ids are committed; each id once) and the rest after its last page, with keyword arguments:

- `organization_id`, `connection_id`: ints; `sync_run_id`: int, or None when a webhook caused the change;
- `contact_ids`: sorted ids of contacts that changed themselves or whose deals/activities changed;
- `company_ids`: sorted ids of companies that changed.
"""

from django.dispatch import Signal

records_changed = Signal()
