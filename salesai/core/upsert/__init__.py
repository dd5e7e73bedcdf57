"""Bulk, idempotent upserts of CRM-synced rows keyed on (connection, external_id); see services.py."""
