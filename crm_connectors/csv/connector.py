# Placeholder replaced by the CSV connector implementation.
