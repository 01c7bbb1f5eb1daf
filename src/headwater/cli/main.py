"""The ``headwater`` console script: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from headwater import __version__
from headwater.cli import (
    accounts,
    config,
    connectors,
    db,
    flows,
    postman,
    processes,
    rivers,
    serve,
    tokens,
    users,
)
from headwater.cli import run as run_command


def _version(value: bool) -> None:
    if value:
        typer.echo(f"headwater {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="headwater",
    help="Headwater: self-hostable data integration (rivers, runs, activities).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Headwater: self-hostable data integration (rivers, runs, activities)."""


app.command("up")(serve.up)
app.command("server")(serve.server)
app.command("config")(config.config)
app.command("postman")(postman.postman)
app.command("worker")(processes.worker)
app.command("scheduler")(processes.scheduler)
app.command("run")(run_command.run)
app.command("apply")(flows.apply)
app.command("export")(flows.export)
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.add_typer(rivers.app, name="rivers")
app.add_typer(accounts.app, name="accounts")
app.add_typer(connectors.app, name="connectors")


def run() -> None:
    app()
