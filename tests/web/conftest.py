"""Fixtures of the page and dashboard tests: the users tests' app, root-key client and browser."""

from users.conftest import app_services, browser, http, services  # noqa: F401
