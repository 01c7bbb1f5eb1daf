"""Template rendering for the console: one Jinja2 environment, filters and the page frame.

Templates and static files live inside the package so an install without internet access
serves the whole console; nothing is loaded from a CDN.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from headwater.services.environments import list_environments
from headwater.web.auth import ConsoleUser

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"
PREFIX = "/console"


def fmt_time(value: datetime | int | None) -> str:
    """UTC, minute precision; ints are epoch milliseconds (the Activities API's unit)."""
    if value is None:
        return "—"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, tz=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_bytes(value: int | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover - loop always returns


def fmt_duration(ms: int | None) -> str:
    if not ms:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


TEMPLATES.env.filters["when"] = fmt_time
TEMPLATES.env.filters["size"] = fmt_bytes
TEMPLATES.env.filters["duration"] = fmt_duration


def account_base(account_id: str) -> str:
    return f"{PREFIX}/accounts/{account_id}"


def env_base(account_id: str, environment_id: str) -> str:
    return f"{account_base(account_id)}/environments/{environment_id}"


def river_url(account_id: str, environment_id: str, river_id: str) -> str:
    return f"{env_base(account_id, environment_id)}/rivers/{river_id}"


def home_url(user: ConsoleUser) -> str:
    return f"{env_base(user.account_id, user.default_environment_id)}/rivers"


def environment_choices(request: Request, user: ConsoleUser) -> list[tuple[str, str]]:
    """``(id, name)`` of the environments this user may use, default first (the switcher)."""
    session = request.app.state.session_factory()
    try:
        return [(e.id, e.name) for e in list_environments(session, user.principal)]
    finally:
        session.close()


def _frame(request: Request) -> dict[str, Any]:
    """What every page needs: the user, the CSRF token and the navigation links."""
    user: ConsoleUser | None = getattr(request.state, "console_user", None)
    frame: dict[str, Any] = {"user": user, "csrf_token": user.csrf_token if user else ""}
    if user is not None:
        environment_id = str(
            request.path_params.get("environment_id") or user.default_environment_id
        )
        base = env_base(user.account_id, environment_id)
        frame["env_base"] = base
        frame["environment_id"] = environment_id
        frame["environments"] = environment_choices(request, user)
        frame["account_base"] = account_base(user.account_id)
        nav = [
            ("Data flows", f"{base}/rivers"),
            ("Activities", f"{base}/activities"),
            ("Connections", f"{base}/connections"),
        ]
        if user.is_admin:
            nav += [
                ("API Tokens", f"{account_base(user.account_id)}/settings/api-tokens"),
                ("Users", f"{account_base(user.account_id)}/settings/users"),
            ]
        if user.principal.is_instance_admin:
            nav.append(("Connectors", f"{PREFIX}/instance/connectors"))
        frame["nav"] = nav
    return frame


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    data = {**_frame(request), **(context or {})}
    response = TEMPLATES.TemplateResponse(
        request, template, data, status_code=status_code, headers=headers
    )
    return response


def error_page(request: Request, status_code: int, message: str, title: str = "") -> HTMLResponse:
    titles = {
        400: "That did not work",
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Please check the form",
        429: "Too many attempts",
    }
    headline = title or titles.get(status_code, "Something went wrong")
    return render(
        request,
        "error.html",
        {"title": headline, "message": message, "status_code": status_code},
        status_code=status_code,
    )
