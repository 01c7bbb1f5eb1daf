"""``headwater accounts``: create and list the installation's accounts (tenants).

The command acts as the installation's first instance admin, directly on the metadata DB (the
machine that holds it is the operator's); every change is audited in the account it touched.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from headwater.cli.acting import acting_as_instance_admin
from headwater.cli.common import fail
from headwater.errors import HeadwaterError
from headwater.store.base import utcnow

app = typer.Typer(
    help="Accounts (tenants) of this installation: create, list.", no_args_is_help=True
)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="The account's name."),
    admin_email: str = typer.Option(
        ..., "--admin-email", help="E-mail (login) of the account's first admin."
    ),
    admin_password: str | None = typer.Option(
        None,
        "--admin-password",
        help="The admin's initial password; omitted: one is generated and printed once.",
    ),
    plan: str = typer.Option("pro", "--plan", help="starter, pro or enterprise."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print {"account_id", "environment_id", "admin_id", "admin_email", "password"} '
        "as JSON (password null when given).",
    ),
) -> None:
    """Create an account with its default environment and admin user."""
    from headwater.services import instance_accounts as service

    if admin_password is not None and len(admin_password) < 8:
        raise fail("--admin-password needs at least 8 characters")
    with acting_as_instance_admin() as ctx:
        try:
            tenant = service.create_account(
                ctx.session,
                ctx.principal,
                name=name,
                admin_email=admin_email,
                admin_password=admin_password,
                plan=plan,
                now=utcnow(),
                via="cli",
            )
        except HeadwaterError as exc:
            raise fail(exc.message) from None
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "account_id": tenant.account.id,
                        "environment_id": tenant.environment.id,
                        "admin_id": tenant.admin.id,
                        "admin_email": tenant.admin.email,
                        "password": tenant.generated_password,
                    }
                )
            )
            return
        typer.echo(f"created account {tenant.account.name!r} (id {tenant.account.id})")
        typer.echo(f"default environment {tenant.environment.id}, plan {tenant.account.plan}")
        typer.echo(f"admin {tenant.admin.email} (id {tenant.admin.id})")
        if tenant.generated_password:
            typer.echo(f"generated password {tenant.generated_password}  (shown once)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List every account: id, name, plan, whether it is disabled, its admins."""
    from headwater.services import instance_accounts as service

    rows: list[dict[str, Any]] = []
    with acting_as_instance_admin() as ctx:
        for account in service.list_accounts(ctx.session, ctx.principal):
            facts = service.facts(ctx.session, account)
            rows.append(
                {
                    "id": account.id,
                    "name": account.name,
                    "plan": account.plan,
                    "disabled": account.disabled_at is not None,
                    "created_at": account.created_at.isoformat(),
                    "default_environment_id": facts.default_environment_id,
                    "users": facts.users,
                    "admin_emails": facts.admin_emails,
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        typer.echo(
            f"{row['id']}  {row['plan']:<10}  {state:<8}  {row['name']}  "
            f"admins {','.join(row['admin_emails']) or '-'}"
        )
