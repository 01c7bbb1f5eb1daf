"""Every route declares its scope (or that it is public): walk the real route table."""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant

from headwater.api.routes import iter_api_routes
from headwater.security.scopes import SCOPES
from headwater.server import create_server_app
from headwater.settings import Settings


def _declared(dependant: Dependant) -> tuple[set[str], bool]:
    scopes: set[str] = set()
    public = False
    for dep in dependant.dependencies:
        call: Any = dep.call
        if getattr(call, "required_scope", None):
            scopes.add(call.required_scope)
        if getattr(call, "is_public", False):
            public = True
        inner_scopes, inner_public = _declared(dep)
        scopes |= inner_scopes
        public = public or inner_public
    return scopes, public


def route_declarations(tmp_path: Any) -> dict[str, tuple[set[str], bool]]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app = create_server_app(settings)
    found: dict[str, tuple[set[str], bool]] = {}
    for route in iter_api_routes(app.routes):
        for method in sorted(route.methods):
            found[f"{method} {route.path}"] = _declared(route.dependant)
    app.state.engine.dispose()
    return found


def test_every_route_declares_a_scope_or_public(tmp_path: Any) -> None:
    declarations = route_declarations(tmp_path)
    assert declarations, "the app serves no routes"
    undeclared = [
        route for route, (scopes, public) in declarations.items() if not scopes and not public
    ]
    assert undeclared == []


def test_every_declared_scope_is_in_the_catalogue(tmp_path: Any) -> None:
    for route, (scopes, _public) in route_declarations(tmp_path).items():
        assert scopes <= set(SCOPES), route
