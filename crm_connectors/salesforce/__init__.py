"""Salesforce connector: OAuth refresh-token flow, SOQL incremental sync, describe-typed custom fields."""
