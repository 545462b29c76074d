"""The management API, one router a resource."""
