"""``headwater tokens``: create, list and delete API tokens as the account's first admin."""

from __future__ import annotations

import json
from typing import Any

import typer

from headwater.cli.acting import acting_as_first_admin
from headwater.cli.common import fail
from headwater.errors import HeadwaterError
from headwater.store.base import utcnow

app = typer.Typer(help="API tokens: create, list, delete.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A descriptive token name."),
    scopes: list[str] = typer.Option(
        ..., "--scope", help="A scope to grant (repeat for more); see `GET /v1/scopes`."
    ),
    environments: list[str] | None = typer.Option(
        None, "--environment", help="Grant only this environment id (repeatable). Default: all."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print {"token", "token_id", "account_id", "environment_id"} as JSON.',
    ),
) -> None:
    """Create an API token and print it once (it cannot be shown again)."""
    from headwater.services import tokens as service

    with acting_as_first_admin() as ctx:
        try:
            created = service.create_token(
                ctx.session,
                ctx.principal,
                name=name,
                scopes=scopes,
                environment_ids=environments or None,
                now=utcnow(),
                via="cli",
            )
        except HeadwaterError as exc:
            raise fail(exc.message) from None
        environment_id = environments[0] if environments else ctx.account.environment_id
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "token": created.secret,
                        "token_id": created.token.id,
                        "account_id": created.token.account_id,
                        "environment_id": environment_id,
                    }
                )
            )
            return
        typer.echo(f"created token {name!r} (id {created.token.id})")
        typer.echo(f"account {created.token.account_id}, environment {environment_id}")
        typer.echo(f"scopes: {' '.join(created.token.scopes)}")
        typer.echo(created.secret)
        typer.echo("copy the token now: it is shown only once", err=True)


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the account's live tokens (never their secrets)."""
    from headwater.services import tokens as service

    with acting_as_first_admin() as ctx:
        tokens = service.list_tokens(ctx.session, ctx.principal)
        creators = service.creators(ctx.session, tokens)
    rows: list[dict[str, Any]] = []
    for t in tokens:
        creator = creators.get(t.created_by or "")
        rows.append(
            {
                "id": t.id,
                "name": t.name,
                "scopes": [str(s) for s in t.scopes],
                "environment_ids": t.environment_ids,
                "created_at": t.created_at.isoformat(),
                "creator": creator.email if creator else None,
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no API tokens")
        return
    for row in rows:
        typer.echo(
            f"{row['id']}  {row['name']}  created {row['created_at']} by {row['creator'] or '-'}"
            f"  last used {row['last_used_at'] or 'never'}  expires {row['expires_at'] or 'never'}"
            f"  scopes {','.join(row['scopes'])}"
        )


@app.command("delete")
def delete(token_id: str = typer.Argument(..., help="The id of the token to delete.")) -> None:
    """Delete a token for good: it stops working at once and cannot be restored."""
    from headwater.services import tokens as service

    with acting_as_first_admin() as ctx:
        try:
            service.delete_token(ctx.session, ctx.principal, token_id, now=utcnow(), via="cli")
        except HeadwaterError as exc:
            raise fail(exc.message) from None
    typer.echo(f"deleted token {token_id}")
