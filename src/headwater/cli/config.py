"""``headwater config``: the effective settings, secrets masked."""

from __future__ import annotations

import json

import typer

from headwater.settings import Settings, effective_settings, settings_markdown


def config(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the settings reference table (Markdown) instead."
    ),
) -> None:
    """Print the effective settings (from HEADWATER_* variables), secrets masked."""
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    shown = effective_settings(Settings())
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    width = max(len(name) for name in shown)
    for name, value in shown.items():
        typer.echo(f"HEADWATER_{name.upper():<{width}}  {value}")
