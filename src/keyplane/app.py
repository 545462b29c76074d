"""create_app(settings): the ASGI application of the keyplane service."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from keyplane import __version__
from keyplane.clock import Clock
from keyplane.config import Settings, load_settings
from keyplane.http import docs, errors, health, oauth, openapi, userinfo
from keyplane.http.access_log import AccessLog
from keyplane.http.headers import SecurityHeaders
from keyplane.http.hot_paths import VERIFY_PATH, ServiceApp
from keyplane.http.jwks import JWKS_PATH, jwks
from keyplane.http.limits import BodyLimit
from keyplane.http.v1 import alerts, apis, audit, keys, leaks, revocations, root_keys, usage, webhooks
from keyplane.http.v1.clients import router as clients_router
from keyplane.http.v1.resource_servers import router as resource_servers_router
from keyplane.http.v1.key_changes import KeyChangesEndpoint
from keyplane.http.v1.roles import router as roles_router
from keyplane.http.v1.signing_keys import router as signing_keys_router
from keyplane.http.v1.users import router as users_router
from keyplane.http.v1.verify import VerifyEndpoint
from keyplane.services import greet, open_services
from keyplane.stop_signals import on_stop_signal
from keyplane.web import authorize as web_authorize
from keyplane.web import dashboard as web_dashboard
from keyplane.web import device as web_device
from keyplane.web import logout as web_logout
from keyplane.web import pages as web_pages
from keyplane.web.render import STATIC_PATH

log = logging.getLogger("keyplane")
# At start, how long to wait for PostgreSQL to listen for changes (store/change_notices.py):
# then rows are kept from the first request; if it is slower, they are once it listens.
STARTUP_LISTEN_SECONDS = 2.0
# How long a thread holding the GIL keeps it from the event loop's thread, in a served app.
SWITCH_INTERVAL_SECONDS = 0.001
# The access log is written at these log levels (KEYPLANE_LOG_LEVEL), as uvicorn's was.
_ACCESS_LOG_LEVELS = ("info", "debug", "trace")

DESCRIPTION = """\
Self-hosted API keys and API tokens. Every `/v1/` endpoint takes
`Authorization: Bearer <root key>`; errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings, *, clock: Clock | None = None, served: bool = False) -> ServiceApp:
    """The service as an ASGI app; stores open and migrations run in its lifespan.

    `served` (what `keyplane serve` asks for, one app a process): once the services are
    up, move every object alive then out of the garbage collector's sight (`gc.freeze()`).
    Full collections otherwise walk the ~160k objects of FastAPI, pydantic and SQLAlchemy
    each time, ~80 ms of pause apiece, and requests that await the database or Redis make
    them frequent (measured 2026-11-24). The interpreter's thread switch interval drops from
    5 ms to `SWITCH_INTERVAL_SECONDS`: the usage writer's Python work (a few ms a flush)
    otherwise holds the loop off for up to 5 ms at a time, the p99 of every request then.
    Also: streams of key changes end when a stop signal arrives (stop_signals.py). Not for
    tests, which build many apps in one process.
    """

    @asynccontextmanager
    async def lifespan(app: ServiceApp) -> AsyncIterator[None]:
        services = await open_services(settings, clock=clock)
        try:
            await greet(services)
            services.start()
            if services.change_listener is not None:
                await services.change_listener.wait_listening(STARTUP_LISTEN_SECONDS)
            app.state.services = services
            if app.access_log is not None:
                app.access_log.start()
            if served:
                gc.collect()
                gc.freeze()
                sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
                # A served process: streams end when the stop begins (stop_signals.py).
                on_stop_signal(services.key_changes.stop)
            log.info("keyplane ready")
            yield
        finally:
            await services.close()
            if app.access_log is not None:
                app.access_log.close()
            log.info("keyplane stopped")

    # FastAPI's native OpenTelemetry is off: it asks the global providers on every request
    # (~3 µs, a tenth of a bare request) and keyplane reports through /metrics.
    app = ServiceApp(title="keyplane", version=__version__, description=DESCRIPTION,
                     lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                     telemetry={"tracing": False, "metrics": False, "logs": False})
    # Key verification, the token endpoint and introspection answer ahead of the app's
    # middleware (http/hot_paths.py); their routes come first in the table too, for the
    # OpenAPI description and the 405 to other methods, then the other OAuth endpoints.
    app.hot = {VERIFY_PATH: VerifyEndpoint(), **oauth.hot_endpoints()}
    app.router.routes[0:0] = [*(Route(path, endpoint, methods=["POST"])
                                for path, endpoint in app.hot.items()),
                              *oauth.routes(),
                              Route(JWKS_PATH, jwks, methods=["GET"], include_in_schema=False)]
    if served and settings.access_log and settings.log_level.lower() in _ACCESS_LOG_LEVELS:
        app.access_log = AccessLog()
    # A stream, plain ASGI too; before /v1/keys/{id}, which would take "changes" for an id.
    app.router.routes.append(Route("/v1/keys/changes", KeyChangesEndpoint(), methods=["GET"]))
    for router in (apis.router, keys.router, usage.router, root_keys.router, audit.router,
                   alerts.router, webhooks.router, leaks.router):
        app.include_router(router)
    app.add_route("/healthz", health.healthz, include_in_schema=False)
    app.add_route("/readyz", health.readyz, include_in_schema=False)
    app.add_route("/metrics", health.metrics, include_in_schema=False)
    app.include_router(signing_keys_router)
    app.include_router(clients_router)
    app.include_router(resource_servers_router)
    app.include_router(users_router)
    app.include_router(roles_router)
    app.include_router(revocations.router)
    app.router.routes.extend(web_pages.routes())
    app.router.routes.extend(web_authorize.routes())
    app.router.routes.extend(web_logout.routes())
    app.router.routes.extend(userinfo.routes())
    app.router.routes.extend(web_device.routes())
    app.router.routes.extend(web_dashboard.routes())
    app.router.routes.append(Mount(STATIC_PATH, StaticFiles(packages=[("keyplane.web", "static")]),
                                   name="static"))
    docs.install(app)
    openapi.install(app)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def app_from_environment() -> ServiceApp:
    """The factory `keyplane serve --server uvicorn --workers N` gives uvicorn (which applies
    the proxy-headers rule itself): Settings from the environment."""
    return create_app(load_settings(), served=True)


def served_app_from_environment() -> ASGIApp:
    """The factory `keyplane serve` gives granian: `app_from_environment()` behind the rule
    uvicorn applies by default, client address and scheme from `X-Forwarded-For` and
    `X-Forwarded-Proto` only when the connection comes from FORWARDED_ALLOW_IPS (default
    127.0.0.1; docs/operations.md)."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    app: Any = app_from_environment()  # uvicorn types ASGI apps more narrowly than Starlette
    return cast(ASGIApp, ProxyHeadersMiddleware(app, trusted_hosts=trusted))
