"""API views per area (core records, connectors, ML, emails, scoring runs, privacy): thin, one service or
selector call each."""
