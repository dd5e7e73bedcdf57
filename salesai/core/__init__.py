"""Tenancy and the CRM domain: Organization, Membership, Company, Contact, Deal, Activity, the bulk upsert,
audit log, erasure tombstones, encrypted fields, the scoped admin base, database retry.

May import: Django and third-party libraries only. Never `crm_connectors`, `ml`, or the other `salesai` apps
(import-linter contract in pyproject.toml): everything else builds on it.
"""
