"""The scale tests start their own cluster (tests/scale/cluster.py): PostgreSQL and Redis
of their own on free ports, three replicas of `keyplane serve --workers 2`. They need the
PostgreSQL and Redis programs installed, never the machine's running servers."""
