"""``headwater postman``: print the Postman collection of the API (no server, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def postman(
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="Value of the collection's base-url variable (default: HEADWATER_PUBLIC_URL, "
        "else http://127.0.0.1:8000).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print a Postman v2.1 collection of every API endpoint (import it, set access_token)."""
    from sqlalchemy import create_engine

    from headwater.api.app import create_app
    from headwater.services.postman import build_collection
    from headwater.settings import Settings

    settings = Settings()
    # An in-memory engine: generating the document needs the routes, not the metadata DB.
    engine = create_engine("sqlite://")
    try:
        app = create_app(settings, engine=engine)
        collection = build_collection(app.openapi(), base_url=base_url or settings.public_url)
    finally:
        engine.dispose()
    text = json.dumps(collection, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
