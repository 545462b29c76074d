"""The metered service's fixtures (tests/metered_service.py) for the API-level tests here."""

from metered_service import embedded, service, start  # noqa: F401
