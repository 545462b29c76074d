"""Leaked credentials: recognising keyplane's secrets by prefix and checksum, and acting on
leak reports (`POST /v1/leaks`, `POST /v1/leaks/github`; docs/leaks.md)."""
