"""The `keyplane` command: the app that gathers every command group."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from keyplane import __version__
from keyplane.cli import admin, alerts, apis, audit, keys, root_keys, serve, usage
from keyplane.cli import scan as scan_cli
from keyplane.cli import clients as clients_cli
from keyplane.cli import resource_servers as resource_servers_cli
from keyplane.cli import login as login_cli
from keyplane.cli import roles as roles_cli
from keyplane.cli import signing_keys as signing_keys_cli
from keyplane.cli import users as users_cli
from keyplane.cli.errors import BAD_CONFIGURATION, CliError


class KeyplaneGroup(TyperGroup):
    """Reports a CliError, or keyplane's own configuration errors, as a line on stderr
    and an exit status, whichever subcommand raised it: no traceback for a known failure."""

    def invoke(self, ctx: Any) -> Any:  # typer's Context class is its private click copy's
        from keyplane.errors import ConfigError, Invalid

        try:
            return super().invoke(ctx)
        except CliError as exc:
            exc.show()
            raise typer.Exit(exc.exit_code) from None
        except (Invalid, ConfigError) as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(BAD_CONFIGURATION) from None


app = typer.Typer(
    cls=KeyplaneGroup, name="keyplane", no_args_is_help=True,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Self-hosted API keys. Management commands talk to the service at KEYPLANE_URL "
         "with KEYPLANE_ROOT_KEY; add --json for scripts.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"keyplane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


app.command("serve")(serve.serve)
app.command("migrate")(admin.migrate)
app.command("bootstrap")(admin.bootstrap)
app.add_typer(apis.app, name="apis")
app.add_typer(keys.app, name="keys")
app.add_typer(root_keys.app, name="root-keys")
app.add_typer(signing_keys_cli.app, name="signing-keys")
app.add_typer(clients_cli.app, name="clients")
app.add_typer(resource_servers_cli.app, name="resource-servers")
app.add_typer(users_cli.app, name="users")
app.add_typer(roles_cli.app, name="roles")
app.add_typer(alerts.app, name="alerts")
app.command("audit")(audit.audit)
app.command("usage")(usage.usage)
app.command("login")(login_cli.login)
app.command("scan")(scan_cli.scan)


def main() -> None:
    """The console script."""
    app()
