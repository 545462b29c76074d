"""Rate limits: GCRA over one timestamp a bucket, in memory or in Redis."""
