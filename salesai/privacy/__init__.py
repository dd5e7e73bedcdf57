"""Data-subject requests (GDPR): erase or export everything held about a person across `salesai.core`,
`crm_connectors` and `ml`, recorded in the audit log. The one app that imports all three; none of them
imports it (import-linter contract)."""
