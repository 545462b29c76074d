"""Where a request handler finds the services built by `create_app`."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from keyplane.services import Services


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services
