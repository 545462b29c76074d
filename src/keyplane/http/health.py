"""`/healthz` (the process is up), `/readyz` (the store answers), `/metrics` (Prometheus)."""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from keyplane.http.auth import authenticate
from keyplane.http.context import services_of
from keyplane.http.errors import problem
from keyplane.http.json import JSONResponse

log = logging.getLogger("keyplane.health")


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics. They name API ids and counts: with
    KEYPLANE_METRICS_ROOT_KEY_REQUIRED the scraper sends a root key holding `metrics.read`
    (401 / 403 otherwise)."""
    services = services_of(request)
    if services.settings.metrics_root_key_required:
        await authenticate(request, "metrics.read")
    body = generate_latest(services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def readyz(request: Request) -> Response:
    try:
        await services_of(request).db.ping()
    except Exception as exc:  # any failure to reach the store means "not ready", not a 500
        log.warning("readiness check failed: %s", type(exc).__name__)
        return problem(503, "the store does not answer")
    return JSONResponse({"status": "ready"})
