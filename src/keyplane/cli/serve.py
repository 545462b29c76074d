"""`keyplane serve`: run the service under uvicorn (the default) or granian.

granian (`--server granian`, KEYPLANE_SERVER) parses HTTP and handles sockets in Rust
threads, so the Python thread runs only the app: the token endpoint and introspection
answer ×1.2 and ×1.4 of uvicorn (httptools + uvloop) on one core, but metered verification
lost more to its limits there (+38 % over plain verification in memory, +43 % with Redis,
against +19.6 % on uvicorn in an earlier run; 2026-11-24): granian takes the HTTP work off
the Python thread, so the limits are a larger share of what is left. Which is the better
default is open (docs/decisions.md).

The parent process checks the configuration and migrates the schema once, before any
worker starts: a wrong setting is one line and exit status 2, never a worker crash loop.
granian always runs the app in worker processes it spawns; uvicorn runs one worker in this
process and spawns more. A spawned worker builds the app from `keyplane.app`'s factories,
so the settings travel as KEYPLANE_* environment variables (with migrations off: done here
already).

Both limit a request's head (request line and header fields) to 64 KiB, a field to 16 KiB
under uvicorn, before the app sees it: 431 and the connection closed (http/head_limits.py).

Both trust `X-Forwarded-For` / `X-Forwarded-Proto` only from the addresses in
FORWARDED_ALLOW_IPS (default 127.0.0.1), as uvicorn does by default.

SIGTERM and SIGINT stop gracefully: no new connections, requests in flight get
`GRACEFUL_SHUTDOWN_SECONDS`, then the app's shutdown runs and the process exits 0.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import logging.config
import os
import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keyplane.cli.admin import apply_migrations, describe_migration, load, store_errors
from keyplane.cli.errors import BadConfiguration

if TYPE_CHECKING:
    from keyplane.config import Settings

log = logging.getLogger("keyplane")

APP_FACTORY = "keyplane.app:app_from_environment"
SERVED_APP_FACTORY = "keyplane.app:served_app_from_environment"  # behind the proxy-headers rule
GRACEFUL_SHUTDOWN_SECONDS = 5
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
SERVERS = ("granian", "uvicorn")


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus keyplane's own loggers on the same handler.

    Neither server writes an access log: the app writes its own, JSON lines off the event
    loop (http/access_log.py), a few per cent of a request where uvicorn's cost 26–40 %.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    ours = "DEBUG" if level == "trace" else level.upper()
    config["loggers"]["keyplane"] = {"handlers": ["default"], "level": ours, "propagate": False}
    # Alembic narrates every start at INFO; keyplane says what changed instead.
    config["loggers"]["alembic"] = {"handlers": ["default"], "level": "WARNING",
                                    "propagate": False}
    # granian's own logger (used when it serves), through the same handler.
    config["loggers"]["_granian"] = {"handlers": ["default"], "level": ours, "propagate": False}
    return config


def _stop(_signum: int, _frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM itself while it serves, then re-raises it to the handler it
    # found: this one, so a graceful stop ends with status 0 instead of death by signal.
    # Before uvicorn starts (during migrations) it stops the process the same way.
    raise SystemExit(0)


async def _prepare(settings: Settings, *, greet_here: bool) -> None:
    from keyplane.services import greet, open_services

    if settings.auto_migrate:
        before, after = await apply_migrations(settings)
        if before != after:
            log.info(describe_migration(settings, before, after))
    # Opening the services checks the secret against the database: better refused here,
    # in one line, than by every worker with a traceback.
    services = await open_services(settings, migrate_schema=False)
    try:
        if greet_here and settings.root_key is not None:
            # Workers start at once: one of them making KEYPLANE_ROOT_KEY a root key while
            # another does the same would be a duplicate. Done here, they find it made.
            await greet(services)
    finally:
        await services.close()


def serve(
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to listen on (KEYPLANE_HOST; default 127.0.0.1).",
        show_default=False)] = None,
    port: Annotated[int | None, typer.Option(
        "--port", min=0, max=65535, help="Port to listen on (KEYPLANE_PORT; default 8080).",
        show_default=False)] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=512, help="Worker processes sharing the port.")] = 1,
    server: Annotated[str, typer.Option(
        "--server", envvar="KEYPLANE_SERVER",
        help="HTTP server: uvicorn, or granian (HTTP in Rust threads; docs/decisions.md).")] = "uvicorn",
) -> None:
    """Run the keyplane service."""
    settings = load(host=host, port=port)
    level = settings.log_level.lower()
    if level not in LOG_LEVELS:
        raise BadConfiguration(f"KEYPLANE_LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}")
    if server not in SERVERS:
        raise BadConfiguration(f"--server / KEYPLANE_SERVER: must be one of {', '.join(SERVERS)}")
    config = logging_config(level)
    logging.config.dictConfig(config)
    signal.signal(signal.SIGTERM, _stop)
    with store_errors(settings):
        asyncio.run(_prepare(settings, greet_here=workers > 1))
    if workers > 1 and settings.redis_url is None:
        log.warning(
            "%d workers without KEYPLANE_REDIS_URL: each worker keeps its own rate limits, so a "
            "limit of N admits up to %d×N across them. Revocation and usage stay exact and "
            "credits are never overspent (they live in the database; a balance read by one "
            "worker may lag another's leased block for up to 1 s), but verifiers cannot cache "
            "keys (GET /v1/keys/changes "
            "needs Redis to hear every worker). Set KEYPLANE_REDIS_URL for exact shared limits.",
            workers, workers)
    if server == "granian":
        _serve_granian(settings, workers, level, config)
        return

    import uvicorn

    from keyplane.http.hot_lane import HotLaneProtocol

    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port, log_config=config, log_level=level,
        lifespan="on", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, access_log=False,
        server_header=False, http=HotLaneProtocol)
    if workers == 1:
        from keyplane.app import create_app

        app = create_app(settings.model_copy(update={"auto_migrate": False}), served=True)
        uvicorn.run(app, **options)
        return
    _settings_for_workers(settings, workers, level)
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)


def _settings_for_workers(settings: Settings, workers: int, level: str) -> None:
    # Workers are new processes: they read the settings from the environment (and the same
    # keyplane.toml); what came from options here goes there too.
    os.environ.update({"KEYPLANE_HOST": settings.host, "KEYPLANE_PORT": str(settings.port),
                       "KEYPLANE_AUTO_MIGRATE": "false", "KEYPLANE_LOG_LEVEL": level,
                       "KEYPLANE_WORKERS": str(workers)})


def _serve_granian(settings: Settings, workers: int, level: str, config: dict[str, Any]) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from keyplane.http.head_limits import MAX_HEAD_BYTES

    _settings_for_workers(settings, workers, level)
    # granian's levels stop at debug; its access log stays off (the app writes its own).
    granian_level = LogLevels("debug" if level == "trace" else level)
    Granian(SERVED_APP_FACTORY, factory=True, address=settings.host, port=settings.port,
            interface=Interfaces.ASGI, workers=workers, loop=Loops.uvloop, http=HTTPModes.http1,
            websockets=False, log_level=granian_level,
            # hyper answers 431 itself when a request's head outgrows its read buffer.
            http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES), log_dictconfig=config,
            log_access=False,
            workers_kill_timeout=GRACEFUL_SHUTDOWN_SECONDS + 5).serve()
