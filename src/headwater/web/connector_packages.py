"""Instance → Connectors (instance admins only): installed Airbyte/Singer packages, install
with live progress, uninstall.

The page calls the very ``Installer`` the API's ``/v1/instance/connectors`` uses (one per app,
``api.connector_packages.installer``), so an install started here shows in the API and the
other way round. Progress is polled from ``…/installs/{id}.json`` by ``console.js``; without
JavaScript the page still works (reload shows the same status).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from headwater.api.connector_packages import installer
from headwater.errors import HeadwaterError
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import PREFIX, render

router = APIRouter(include_in_schema=False)
BASE = f"{PREFIX}/instance/connectors"
SCOPE = "instance:admin"
EMPTY = "Type a requirement, such as airbyte-source-faker==7.2.1."
NOTICES = {"removed": "The connector package was removed."}


def _page(
    request: Request,
    *,
    install_id: str = "",
    notice: str = "",
    error: str = "",
    package: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    found = installer(request)
    current = None
    if install_id:
        try:
            current = found.get(install_id).to_dict()
        except HeadwaterError:
            error = error or "That install is no longer known to this server (it restarted?)."
    context: dict[str, Any] = {
        "title": "Connectors",
        "enabled": found.settings.connectors_api_install,
        "installed": found.installed(),
        "installs": [j.to_dict() for j in found.jobs()][:10],
        "current": current,
        "notice": notice,
        "error": error,
        "package": package,
        "base": BASE,
    }
    return render(request, "connector_packages.html", context, status_code=status_code)


@router.get(BASE)
def connectors_page(
    request: Request,
    install: str = "",
    notice: str = "",
    user: ConsoleUser = Depends(console_page(SCOPE)),
) -> HTMLResponse:
    return _page(request, install_id=install[:64], notice=NOTICES.get(notice, ""))


@router.post(BASE)
def connectors_install(
    request: Request,
    package: str = Form(""),
    user: ConsoleUser = Depends(console_action(SCOPE)),
) -> Response:
    if not package.strip():
        return _page(request, error=EMPTY, status_code=422)
    try:
        job = installer(request).start(package)
    except HeadwaterError as exc:
        return _page(request, error=exc.message, package=package, status_code=exc.status_code)
    return RedirectResponse(f"{BASE}?install={job.id}", status_code=303)


@router.get(f"{BASE}/status.json")
def connectors_status(
    request: Request,
    install: str = "",
    user: ConsoleUser = Depends(console_page(SCOPE)),
) -> JSONResponse:
    """What the page polls: the installed packages' names and, with ``?install=``, that
    install's status, the log's last lines and its error (pip's output of a public
    requirement: no secrets)."""
    found = installer(request)
    body: dict[str, Any] = {"installed": [r["name"] for r in found.installed()], "install": None}
    if install:
        job = found.get(install[:64]).to_dict()
        body["install"] = {
            "status": job["status"],
            "version": job["version"],
            "error": job["error"],
            "progress": job["progress"][-30:],
        }
    return JSONResponse(body)


@router.post(f"{BASE}/uninstall")
def connectors_uninstall(
    request: Request,
    package: str = Form(""),
    user: ConsoleUser = Depends(console_action(SCOPE)),
) -> Response:
    if not package.strip():
        return _page(request, error="Name the package to remove.", status_code=422)
    try:
        installer(request).uninstall(package.strip())
    except HeadwaterError as exc:
        return _page(request, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"{BASE}?notice=removed", status_code=303)
