"""``headwater connectors``: install, list and remove Airbyte sources and Singer taps.

Each package goes into its own virtualenv under ``HEADWATER_CONNECTORS_DIR`` (default
``<data dir>/connectors``), never into Headwater's environment; see
``connectors.bridges.packages``.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from headwater.cli.common import fail
from headwater.connectors.bridges import packages
from headwater.settings import Settings

app = typer.Typer(
    help="Airbyte sources and Singer taps from PyPI: install, list, uninstall.",
    no_args_is_help=True,
)


@app.command("install")
def install(
    package: str = typer.Argument(..., help="A requirement: airbyte-source-faker==7.2.1"),
    find_links: str | None = typer.Option(
        None,
        "--find-links",
        help="A wheelhouse directory or index URL to install from (default: "
        "HEADWATER_CONNECTORS_INDEX_URL, else pip's configuration).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print pip's output."),
) -> None:
    """Install a connector package into a virtualenv of its own."""
    try:
        record = packages.install(
            package,
            settings=Settings(),
            index=find_links,
            log=(lambda line: None) if quiet else typer.echo,
        )
    except packages.PackageError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"{record.name} {record.version} installed ({record.protocol}, licence "
        f"{record.license or 'unknown'}); use it in a connection with "
        f'"package": "{record.name}=={record.version}"'
    )


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """The installed connector packages: name, version, protocol, licence, streams."""
    found = packages.installed(Settings())
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in found], indent=2))
        return
    if not found:
        typer.echo("No connector packages installed (headwater connectors install PACKAGE).")
        return
    for record in found:
        streams = ", ".join(record.streams) if record.streams is not None else "not discovered"
        typer.echo(
            f"{record.name}\t{record.version}\t{record.protocol}\t"
            f"{record.license or 'unknown licence'}\tstreams: {streams}"
        )


@app.command("uninstall")
def uninstall(package: str = typer.Argument(..., help="The package name")) -> None:
    """Remove an installed connector package and its virtualenv."""
    try:
        record = packages.uninstall(package, Settings())
    except packages.PackageError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{record.name} {record.version} uninstalled")
