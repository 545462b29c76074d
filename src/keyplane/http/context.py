"""Where a request handler finds the services built by `create_app`, and who is calling."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from keyplane.services import Services


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def client_ip(conn: HTTPConnection) -> str | None:
    """The peer's address as the server saw it (behind a trusted proxy, the forwarded one:
    cli/serve.py); None on a Unix socket or where the server gives none."""
    return conn.client.host if conn.client else None
