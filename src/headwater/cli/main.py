"""The ``headwater`` console script: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from headwater import __version__
from headwater.cli import config, db, serve


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
app.add_typer(db.app, name="db")


def run() -> None:
    app()
