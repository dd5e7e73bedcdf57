"""Hooks other apps connect to without ml importing them (CRM writeback listens here).

`predictions_updated` is sent after a scoring run commits, with keyword arguments `organization_id` (int)
and `contact_ids` (sorted ids of the contacts that got a new current prediction).
"""

from django.dispatch import Signal

predictions_updated = Signal()
