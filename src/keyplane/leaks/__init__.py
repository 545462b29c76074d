"""Leaked credentials: recognising keyplane's secrets by prefix and checksum, and finding
them in files and in git history (`keyplane scan`)."""
