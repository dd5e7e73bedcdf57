"""HubSpot connector: private-app or OAuth tokens, CRM v3 search for incremental sync (past the 10,000-result
cap), inline associations, signed webhooks (v1-v3, app-level fan-out by portal id), score writeback.
Imports `crm_connectors` and `salesai.core` only."""
