"""CSV connector: a folder of CRM exports below the organisation's own import root, read incrementally by file
hash and row, mapped by a column mapping file; row-level error reports. Imports `crm_connectors` and
`salesai.core` only."""
