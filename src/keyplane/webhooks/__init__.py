"""Webhooks: the events keyplane sends, the durable outbox they wait in, and their signed
delivery (Standard Webhooks; docs/webhooks.md)."""
