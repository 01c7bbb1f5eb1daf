"""``headwater db``: metadata database maintenance."""

from __future__ import annotations

import typer

from headwater.cli.common import open_metadata

app = typer.Typer(help="Metadata database: migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration to the metadata database."""
    metadata = open_metadata(upgrade=True)
    typer.echo(f"metadata database at {metadata.settings.masked_database_url()} is up to date")
    metadata.engine.dispose()
