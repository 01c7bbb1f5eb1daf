"""``New connection`` inside the data-flow builder: a dialog, so the half-filled form is kept.

The dialog asks for the fields of a type (``inline-fields``, the same fragment as the
Connections page's form) and posts them to ``inline``, which creates the connection through
``web.connection_form`` (the API's service and messages). A refused form comes back as the
fragment with each error beside its field; a created one as JSON the builder's script uses to
add the connection to its pickers and select it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.services import connection_types
from headwater.services.envscope import EnvScope
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.connection_form import Outcome, create_from_form, fields_for
from headwater.web.render import render

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"


def _fragment(request: Request, outcome: Outcome) -> HTMLResponse:
    spec = connection_types.find_spec(outcome.type_name) if outcome.type_name else None
    context: dict[str, Any] = {
        "inline": True,
        "spec": spec,
        "fields": fields_for(spec, outcome.shown, outcome.errors),
        "name": outcome.shown.get("connection_name", ""),
        "name_error": outcome.errors.get("connection_name", ""),
        "error": outcome.error,
    }
    return render(request, "_connection_fields.html", context, status_code=outcome.status_code)


@router.get(f"{ENV}/connections/inline-fields")
def inline_fields(
    request: Request,
    account_id: str,
    environment_id: str,
    type: str = "",
    user: ConsoleUser = Depends(console_page("connection:edit")),
) -> HTMLResponse:
    """The fields of one connection type, for the builder's dialog."""
    if connection_types.find_spec(type) is None:
        status_code = 404 if type else 200  # nothing chosen yet: an empty set of fields
        return _fragment(
            request, Outcome(error="Choose a connection type.", status_code=status_code)
        )
    return _fragment(request, Outcome(type_name=type, status_code=200))


@router.post(f"{ENV}/connections/inline")
def inline_create(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("connection:edit")),
    form: FormData = Depends(form_data),
) -> Response:
    outcome = create_from_form(request, session, EnvScope(account_id, environment_id), user, form)
    created = outcome.connection
    if created is None:
        return _fragment(request, outcome)
    spec = connection_types.find_spec(created.connection_type)
    return JSONResponse(
        {
            "connection_id": created.id,
            "label": f"{created.name} ({created.connection_type})",
            "roles": list(spec.roles) if spec is not None else [],
        },
        status_code=201,
    )
