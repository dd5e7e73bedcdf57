"""Pipedrive connector: API v2 lists (persons, organizations, deals, activities) plus v1 notes and recents."""
