"""Environments in the console: the header's switcher and copying a data flow to another one.

The switcher (``render.environment_choices``) lists the environments the user may use;
copying goes through ``services.river_copy`` (connections mapped by name, created disabled).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from headwater.api.deps import SessionDep
from headwater.errors import HeadwaterError
from headwater.security.crypto import SecretBox
from headwater.services import river_copy
from headwater.services.auth import actor_for, check_environment
from headwater.services.envscope import EnvScope
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import env_base, render, river_url
from headwater.web.rivers import river_page_with_error

router = APIRouter(include_in_schema=False)
ACCOUNT = "/console/accounts/{account_id}"


@router.get(f"{ACCOUNT}/switch-environment")
def switch_environment(
    request: Request,
    account_id: str,
    session: SessionDep,
    to: str = "",
    user: ConsoleUser = Depends(console_page("river:list")),
) -> Response:
    """The switcher's target: ``to`` opens that environment's data flows; without it, a list
    of the environments to choose from."""
    if not to:
        return render(request, "environments.html", {"title": "Environments"})
    check_environment(session, user.principal, to)
    return RedirectResponse(f"{env_base(account_id, to)}/rivers", status_code=303)


@router.post(f"{ACCOUNT}/environments/{{environment_id}}/rivers/{{river_id}}/copy")
def copy_to_environment(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    to_environment: str = Form(""),
    name: str = Form(""),
    user: ConsoleUser = Depends(console_action("river:write")),
) -> Response:
    source = EnvScope(account_id, environment_id)
    try:
        check_environment(session, user.principal, to_environment)
        copied = river_copy.copy_river(
            session,
            SecretBox.from_settings(request.app.state.settings),
            source,
            EnvScope(account_id, to_environment),
            actor_for(user.principal),
            river_id,
            name[:200],
            request.app.state.clock(),
        )
    except HeadwaterError as exc:
        session.rollback()
        return river_page_with_error(request, session, source, river_id, exc)
    url = river_url(account_id, to_environment, copied.id)
    return RedirectResponse(f"{url}?notice=copied", status_code=303)
