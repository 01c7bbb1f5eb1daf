"""``headwater apply`` and ``headwater export``: connections and data flows as YAML files.

Both act directly on the metadata DB as the account's first admin (like ``headwater tokens``),
in the default environment unless ``--environment`` names another one. ``apply`` prints the
plan (a diff per object) before changing anything; ``--dry-run`` stops there.
"""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from headwater.cli.acting import acting_as_first_admin, environment_scope
from headwater.cli.common import fail
from headwater.security.crypto import SecretBox
from headwater.services import flows, flows_apply
from headwater.services.auth import actor_for
from headwater.settings import Settings
from headwater.store.base import utcnow

SYMBOLS = {"create": "+", "update": "~", "unchanged": "="}


def _dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def apply(
    file: Path = typer.Option(
        ..., "-f", "--file", help="A YAML file, or a directory of *.yaml/*.yml files."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    environment: str | None = typer.Option(
        None, "--environment", help="Environment id (default: the account's default)."
    ),
) -> None:
    """Create or update connections, groups, variables and rivers by name, after a diff."""
    if not file.exists():
        raise fail(f"{file} does not exist")
    box = SecretBox.from_settings(Settings())
    with acting_as_first_admin() as ctx:
        context = flows_apply.Context(
            session=ctx.session,
            box=box,
            scope=environment_scope(ctx, environment),
            actor=actor_for(ctx.principal),
            now=utcnow(),
        )
        try:
            changes = flows_apply.plan(context, flows_apply.load_documents(file))
        except flows_apply.FlowError as exc:
            raise fail(str(exc)) from None
        for change in changes:
            typer.echo(f"{SYMBOLS[change.action]} {change.kind} {change.name}")
            for line in change.diff[2:] if change.action == "update" else change.diff:
                typer.echo(f"    {line}")
        pending = [c for c in changes if c.action != "unchanged"]
        counts = {a: sum(c.action == a for c in changes) for a in SYMBOLS}
        typer.echo(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged."
        )
        if not pending:
            typer.echo("No changes.")
            return
        if dry_run:
            typer.echo("Dry run: nothing was changed.")
            return
        try:
            flows_apply.apply_changes(pending, context)
        except flows_apply.FlowError as exc:
            raise fail(str(exc)) from None
        typer.echo(f"Applied {len(pending)} change(s).")


def export(
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="A .yaml file, or a directory (one file per section, one per river). "
        "Default: standard output.",
    ),
    environment: str | None = typer.Option(
        None, "--environment", help="Environment id (default: the account's default)."
    ),
) -> None:
    """Write the environment as YAML that `headwater apply` accepts unchanged.

    Secrets are written as ${HW_...} references to environment variables, never in clear.
    """
    with acting_as_first_admin() as ctx:
        document = flows.export_environment(ctx.session, environment_scope(ctx, environment))
    if output is None:
        typer.echo(_dump(document), nl=False)
        return
    if output.suffix in {".yaml", ".yml"}:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(_dump(document))
        typer.echo(f"wrote {output}")
        return
    (output / "rivers").mkdir(parents=True, exist_ok=True)
    for section in ("connections", "groups", "variables"):
        (output / f"{section}.yaml").write_text(_dump({section: document[section]}))
    used: set[str] = set()
    for river in document["rivers"]:
        slug = flows.env_name(str(river["name"]))[3:].lower() or "river"
        while slug in used:  # names differing only in punctuation
            slug += "_"
        used.add(slug)
        (output / "rivers" / f"{slug}.yaml").write_text(_dump({"rivers": [river]}))
    typer.echo(f"wrote {len(document['rivers'])} river(s) and their connections to {output}")
