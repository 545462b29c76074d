"""Usage: every verification recorded off the request path, aggregated for queries."""
