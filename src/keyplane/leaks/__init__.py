"""Leaked credentials: recognising keyplane's secrets by prefix and checksum (recognise.py),
finding them in files and git history (`keyplane scan`: scan.py, git_history.py), and acting on
leak reports (`POST /v1/leaks`, `POST /v1/leaks/github`; docs/leaks.md)."""
