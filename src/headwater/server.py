"""The served application: the API with the web console mounted.

``api.app.create_app`` builds the API alone and knows nothing of the console (routes never
import the web layer); the processes that serve people (``headwater up``, ``headwater
server``) and the tests that drive both call this instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from headwater.api.app import create_app
from headwater.settings import Settings
from headwater.web import include_console


def create_server_app(settings: Settings, **kwargs: Any) -> FastAPI:
    """``create_app`` (same arguments) plus the console under ``/console``."""
    app = create_app(settings, **kwargs)
    include_console(app)
    return app
