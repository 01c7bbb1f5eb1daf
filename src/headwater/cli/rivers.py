"""``headwater rivers list``: the data flows of an environment, read on the metadata DB.

Like ``apply`` and ``tokens create`` it acts as the account's first admin on the machine that
holds the metadata database, so it works on a fresh install without a token.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.acting import acting_as_first_admin, environment_scope
from headwater.services import rivers as river_service
from headwater.services import runs as run_service

app = typer.Typer(help="Data flows (rivers) of an environment.", no_args_is_help=True)


@app.command("list")
def list_rivers(
    environment: str | None = typer.Option(
        None, "--environment", help="Environment id (default: the account's default)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of a table."),
) -> None:
    """Name, id, type, status and last run of every river."""
    with acting_as_first_admin() as ctx:
        scope = environment_scope(ctx, environment)
        found, _ = river_service.list_rivers(ctx.session, scope)
        last = run_service.last_groups(ctx.session, [river.id for river in found])
        rows = []
        for river in found:
            group = last.get(river.id)
            rows.append(
                {
                    "name": river.name,
                    "river_id": river.id,
                    "type": river.river_type,
                    "status": river.status,
                    "last_run_status": group.status if group else None,
                    "last_run_started": group.start_time.isoformat() if group else None,
                    "last_run_group_id": group.id if group else None,
                }
            )
    if as_json:
        typer.echo(json.dumps({"environment_id": scope.environment_id, "rivers": rows}))
        return
    table = Table(
        "name", "id", "type", "status", "last run", title=f"rivers in {scope.environment_id}"
    )
    for row in rows:
        last_run = (
            f"{row['last_run_status']} at {row['last_run_started']}"
            if row["last_run_group_id"]
            else "never"
        )
        table.add_row(row["name"], row["river_id"], row["type"], row["status"], last_run)
    Console(width=160).print(table)
