"""CRM rows -> point-in-time feature frames. The only place in `ml` that reads the ORM into pandas."""
