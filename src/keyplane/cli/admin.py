"""`keyplane migrate` and `keyplane bootstrap`: work on the store directly, not over HTTP.

Both read the same settings as `keyplane serve` (KEYPLANE_* and keyplane.toml) and work
whether or not the service runs: PostgreSQL serialises migrators with an advisory lock,
SQLite (WAL) lets a second process write beside the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keyplane.cli.errors import BadConfiguration, CliError
from keyplane.cli.output import print_json, show_secret

if TYPE_CHECKING:
    from keyplane.config import Settings
    from keyplane.store.engine import Database

log = logging.getLogger("keyplane")


def load(**overrides: Any) -> Settings:
    """Settings from keyplane.toml, the environment and `overrides`; raises
    BadConfiguration naming each wrong setting."""
    from keyplane.config import load_settings
    from keyplane.errors import Invalid

    try:
        return load_settings(**overrides)
    except Invalid as exc:
        problems = [f"{e.field}: {e.message.removeprefix('Value error, ')}" if e.field
                    else e.message for e in exc.errors]
        raise BadConfiguration(f"invalid configuration: {'; '.join(problems)}") from None


def display_url(settings: Settings) -> str:
    """The database URL without its password, fit for a terminal or a log."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the store itself; never echo it
        return "the configured database"


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Turn the ways a store can fail to open into one line for a person."""
    import sqlalchemy.exc

    from keyplane.errors import ConfigError, Invalid

    try:
        yield
    except Invalid as exc:
        raise BadConfiguration(exc.detail) from None
    except ConfigError as exc:
        raise BadConfiguration(exc.detail) from None
    except sqlalchemy.exc.DBAPIError as exc:
        raise CliError(f"cannot use the database {display_url(settings)}: "
                       f"{_first_line(exc.orig)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        raise CliError(f"cannot use the database {display_url(settings)}: "
                       f"{_first_line(exc)}") from None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.transaction() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def apply_migrations(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns the revisions before and after."""
    from keyplane.store.engine import Database
    from keyplane.store.migrate import migrate

    db = Database(settings.resolved_database_url)
    try:
        before = await _revision(db)
        await migrate(db)
        return before, await _revision(db)
    finally:
        await db.dispose()


def describe_migration(settings: Settings, before: str | None, after: str | None) -> str:
    where = display_url(settings)
    if before == after:
        return f"{where} is at the newest revision ({after}); nothing to do."
    return f"Migrated {where} from {before or 'an empty database'} to revision {after}."


class _EchoHandler(logging.Handler):
    """Log records as `warning: ...` lines on the stderr of the moment (click's)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


@contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """keyplane's own warnings (a generated secret, ...) shown during a command."""
    handler = _EchoHandler(logging.WARNING)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def migrate() -> None:
    """Apply the database migrations (a no-op when the schema is up to date)."""
    settings = load()
    with warnings_on_stderr(), store_errors(settings):
        before, after = asyncio.run(apply_migrations(settings))
    typer.echo(describe_migration(settings, before, after))


async def _bootstrap(settings: Settings, *, force: bool) -> tuple[int, tuple[str, str] | None]:
    """The root keys there were, and the new one's id and key (None when some existed and
    `force` is false: nothing is created then)."""
    from keyplane.services import open_services

    services = await open_services(settings)
    try:
        existing = await services.root_keys.count()
        if existing and not force:
            return existing, None
        issued = await services.root_keys.bootstrap()  # recorded in the audit log
    finally:
        await services.close()
    return existing, (issued.stored.id, issued.key)


def bootstrap(
    force: Annotated[bool, typer.Option(
        "--force", help="Create one even though root keys exist already.")] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help='Print {"id": ..., "key": ...} as JSON (for scripts).')] = False,
) -> None:
    """Create the first root key, with permission *, and print it once.

    Works on the store directly (the service need not run); applies migrations first
    unless KEYPLANE_AUTO_MIGRATE=false. Refuses when root keys exist already, unless
    --force; `keyplane root-keys create` makes more (and narrower) ones.
    """
    settings = load()
    with warnings_on_stderr(), store_errors(settings):
        existing, issued = asyncio.run(_bootstrap(settings, force=force))
    if issued is None:
        raise CliError(f"{_root_keys(existing)} already in {display_url(settings)}; "
                       "created none", [
                           "keyplane root-keys list                  lists them",
                           "keyplane root-keys create NAME -p ...    makes another, narrower one",
                           "keyplane bootstrap --force               makes another with * anyway"])
    key_id, key = issued
    if existing:
        typer.echo(f"warning: {_root_keys(existing)} already; created one more (--force)", err=True)
    if json_output:
        print_json({"id": key_id, "key": key})
        return
    typer.echo(f"Created root key {key_id} with permission * in {display_url(settings)}.")
    show_secret("Root key", key, note=(
        "Use it with the CLI:  export KEYPLANE_ROOT_KEY=<the key above>\n"
        "or over HTTP:         Authorization: Bearer <the key above>\n"
        "Narrower root keys:   keyplane root-keys create NAME --permission keys.read ..."))


def _root_keys(count: int) -> str:
    return "1 root key exists" if count == 1 else f"{count} root keys exist"
