"""Security alerts: detectors over the service's own event streams, and the alert store's
service (docs/alerts.md)."""
