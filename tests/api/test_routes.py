"""The route table: routes are matched in order, so none may hide another.

``include_routers`` puts the most frequent requests first (they are matched one route at a
time); this walks the real table and checks that every API route still answers its own paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Match

from headwater.api.routes import iter_api_routes
from headwater.server import create_server_app
from headwater.settings import Settings

PARAMETER = re.compile(r"\{[^}]+\}")


@pytest.fixture
def server_app(tmp_path: Path) -> Iterator[Any]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app = create_server_app(settings)
    yield app
    app.state.engine.dispose()


def _matches(route: Any, app: Any, method: str, path: str) -> bool:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app}
    return bool(route.matches(scope)[0] == Match.FULL)


def test_every_route_answers_its_own_paths(server_app: Any) -> None:
    checked = 0
    routes = list(iter_api_routes(server_app.routes))  # in the order they are matched
    for route in routes:
        path = PARAMETER.sub("p0a1b2c3", route.path)
        for method in sorted(route.methods):
            found = next((r for r in routes if _matches(r, server_app, method, path)), None)
            assert found is not None, f"{method} {path}: no route"
            assert (found.path, found.endpoint) == (route.path, route.endpoint), (
                f"{method} {route.path} is answered by {found.path} ({found.endpoint})"
            )
            checked += 1
    assert checked > 100


def test_the_most_frequent_requests_are_matched_first(server_app: Any) -> None:
    prefix = "/v1/accounts/a/environments/e"
    frequent = [
        ("GET", f"{prefix}/rivers/r/runs/x"),
        ("POST", f"{prefix}/rivers/r/run"),
        ("GET", f"{prefix}/activities"),
    ]
    for method, path in frequent:
        position = next(
            i
            for i, route in enumerate(server_app.router.routes)
            if _matches(route, server_app, method, path)
        )
        assert position < 8, f"{method} {path} is matched after {position} routes"
