"""``headwater users``: create and list the account's users as its first admin."""

from __future__ import annotations

import json

import typer

from headwater.cli.acting import acting_as_first_admin
from headwater.cli.common import fail
from headwater.errors import HeadwaterError
from headwater.store.base import utcnow

app = typer.Typer(help="Users of the account: create, list.", no_args_is_help=True)


@app.command("create")
def create(
    email: str = typer.Option(..., "--email", help="The user's e-mail (their login)."),
    name: str = typer.Option("", "--name", help="Display name."),
    role: str = typer.Option("member", "--role", help="admin or member."),
    password: str | None = typer.Option(
        None, "--password", help="Initial password; omitted: one is generated and printed once."
    ),
) -> None:
    """Create a user of the account."""
    from headwater.services import users as service

    with acting_as_first_admin() as ctx:
        try:
            created = service.create_user(
                ctx.session,
                ctx.principal,
                email=email,
                name=name,
                role=role,
                password=password,
                now=utcnow(),
                via="cli",
            )
        except HeadwaterError as exc:
            raise fail(exc.message) from None
        typer.echo(f"created {created.user.role} {created.user.email} (id {created.user.id})")
        if created.generated_password:
            typer.echo(f"generated password {created.generated_password}  (shown once)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the account's users and their roles."""
    from headwater.services import users as service

    with acting_as_first_admin() as ctx:
        rows = [
            {"id": u.id, "email": u.email, "name": u.name, "role": u.role}
            for u in service.list_users(ctx.session, ctx.principal)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['role']:<6}  {row['email']}  {row['name']}")


@app.command("instance-admin")
def instance_admin(
    email: str = typer.Argument(..., help="The e-mail of an account admin, of any account."),
    revoke: bool = typer.Option(False, "--revoke", help="Take instance admin away instead."),
) -> None:
    """Make an account admin an instance admin (may create, list and disable accounts)."""
    from headwater.services import instance_accounts as service
    from headwater.services.audit import Actor

    with acting_as_first_admin() as ctx:
        try:
            user = service.set_instance_admin(
                ctx.session, Actor.system(), email, grant=not revoke, now=utcnow()
            )
        except HeadwaterError as exc:
            raise fail(exc.message) from None
        state = "is" if user.is_instance_admin else "is no longer"
        typer.echo(f"{user.email} {state} an instance admin")
