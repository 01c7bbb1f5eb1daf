"""Review and save, shared by the builders: the definition as the API will store it, its diff
against the saved version (defaults filled in on both sides, so only real changes show), the
save itself through ``parse_body`` and ``services.rivers`` (as ``POST``/``PUT .../rivers``), and
the locations of a refusal."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from headwater.api.bodies import parse_body
from headwater.errors import HeadwaterError, InvalidFields
from headwater.schemas.rivers import RIVER_IN
from headwater.security.crypto import SecretBox
from headwater.services import rivers
from headwater.services.auth import actor_for
from headwater.services.envscope import EnvScope
from headwater.store.models import River
from headwater.web.auth import ConsoleUser
from headwater.web.render import river_url


def pretty(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, sort_keys=True)


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """A definition as the API stores it (defaults filled in), so a diff shows real changes."""
    model = RIVER_IN.validate_python(body)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude={"metadata": {"river_status"}})
    return dumped


def diff_lines(saved: dict[str, Any], proposed: dict[str, Any]) -> list[str]:
    """Unified diff lines (without the file headers) of two normalised definitions."""
    before = pretty(normalised(saved)).splitlines()
    lines = list(difflib.unified_diff(before, pretty(proposed).splitlines(), "saved", "new"))
    return lines[2:] if lines else []


def error_pairs(exc: Exception) -> list[tuple[Any, str]]:
    """``(location, message)`` of a refused body: the model's 422 or a service's
    ``InvalidFields``; ``[]`` for any other error (the form shows its message on top)."""
    if isinstance(exc, RequestValidationError):
        return [(tuple(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
    if isinstance(exc, InvalidFields):
        return [(tuple(loc.split(".")), msg) for loc, msg in exc.errors]
    return []


def form_errors(
    exc: Exception, to_fields: Callable[[list[tuple[Any, str]]], dict[str, str]]
) -> dict[str, str]:
    """Form field -> message: located errors through ``to_fields``, anything else on top."""
    pairs = error_pairs(exc)
    found = to_fields(pairs) if pairs else {}
    if not found:
        found = {"form": exc.message if isinstance(exc, HeadwaterError) else str(exc)}
    return found


def validated(body: dict[str, Any]) -> Any:
    """The body as ``POST .../rivers`` validates it (raises ``RequestValidationError``)."""
    return parse_body(RIVER_IN, body)


def save_river(
    request: Request,
    session: Session,
    scope: EnvScope,
    user: ConsoleUser,
    model: Any,
    river: River | None,
) -> RedirectResponse:
    """Create or replace through ``services.rivers`` (versions, audit) and go to the river's
    page; raises the service's ``HeadwaterError`` for the form to show."""
    now = request.app.state.clock()
    actor = actor_for(user.principal)
    box = SecretBox.from_settings(request.app.state.settings)
    if river is None:
        river = rivers.create_river(session, box, scope, actor, model, now)
        notice = "created"
    else:
        river = rivers.replace_river(session, box, scope, actor, river.id, model, now)
        notice = "updated"
    url = river_url(scope.account_id, scope.environment_id, river.id)
    return RedirectResponse(f"{url}?notice={notice}", status_code=303)


class Render(Protocol):
    """A builder's page with errors, or with the review and diff."""

    def __call__(self, **page: Any) -> Response: ...


def saved_definition(river: River | None) -> dict[str, Any] | None:
    """The saved river as the API answers it: what an edit keeps and diffs against."""
    return rivers.river_out(river).model_dump(mode="json") if river is not None else None


def review_or_save(
    request: Request,
    session: Session,
    scope: EnvScope,
    user: ConsoleUser,
    submission: tuple[dict[str, Any], dict[str, Any] | None, River | None],
    *,
    save: bool,
    to_fields: Callable[[list[tuple[Any, str]]], dict[str, str]],
    render: Render,
) -> Response:
    """The end of every builder's submit: validate the built ``body`` as the API would, save
    it when asked, show a refusal by its fields (422), or else show the review and the diff
    against ``saved``. ``submission`` is ``(body, saved, river)``."""
    body, saved, river = submission
    try:
        model = validated(body)
        if save:
            return save_river(request, session, scope, user, model, river)
    except (RequestValidationError, HeadwaterError) as exc:
        session.rollback()
        return render(errors=form_errors(exc, to_fields), status_code=422)
    proposed = normalised(body)
    diff = diff_lines(saved, proposed) if saved is not None else None
    return render(review=pretty(proposed), diff=diff)
