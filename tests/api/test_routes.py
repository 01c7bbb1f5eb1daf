"""The route table: routes are matched in order, so none may hide another.

``include_routers`` puts the most frequent requests first (they are matched one route at a
time); this walks the real table and checks that every API route still answers its own paths.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Match

from headwater.api.routes import iter_api_routes
from headwater.server import create_server_app
from headwater.settings import Settings

PARAMETER = re.compile(r"\{[^}]+\}")


def _first_match(app: Any, routes: list[APIRoute], method: str, path: str) -> APIRoute | None:
    """The first route, in the order they are matched, that fully matches the request."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app}
    return next((r for r in routes if r.matches(scope)[0] == Match.FULL), None)


def test_every_route_answers_its_own_paths(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app = create_server_app(settings)
    try:
        checked = 0
        routes = list(iter_api_routes(app.routes))
        for route in routes:
            path = PARAMETER.sub("p0a1b2c3", route.path)
            for method in sorted(route.methods):
                found = _first_match(app, routes, method, path)
                assert found is not None, f"{method} {path}: no route"
                assert (found.path, found.endpoint) == (route.path, route.endpoint), (
                    f"{method} {route.path} is answered by {found.path} ({found.endpoint})"
                )
                checked += 1
        assert checked > 100
    finally:
        app.state.engine.dispose()


def test_the_most_frequent_requests_are_matched_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app = create_server_app(settings)
    try:
        prefix = "/v1/accounts/a/environments/e"
        frequent = [
            ("GET", f"{prefix}/rivers/r/runs/x"),
            ("POST", f"{prefix}/rivers/r/run"),
            ("GET", f"{prefix}/activities"),
        ]
        for method, path in frequent:
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app}
            position = next(
                i
                for i, route in enumerate(app.router.routes)
                if route.matches(scope)[0] == Match.FULL
            )
            assert position < 8, f"{method} {path} is matched after {position} routes"
    finally:
        app.state.engine.dispose()
