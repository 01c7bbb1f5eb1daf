"""``/v1/instance/connectors``: instance admins install, list and remove Airbyte sources and
Singer taps. Packages are installation-wide (virtualenvs on the server), hence the
``instance:admin`` scope. An install answers 202 at once and runs in a thread
(``services.connector_installs``); its progress is polled at ``/installs/{install_id}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from headwater.api.deps import require_scope
from headwater.api.responses import errors
from headwater.schemas.connector_packages import (
    ConnectorInstallOut,
    ConnectorInstallRequest,
    ConnectorPackages,
    InstalledConnectorOut,
)
from headwater.services.auth import Principal
from headwater.services.connector_installs import Installer

router = APIRouter(prefix="/v1/instance/connectors", tags=["instance"])


def installer(request: Request) -> Installer:
    found: Installer | None = getattr(request.app.state, "connector_installer", None)
    if found is None:
        found = Installer(request.app.state.settings)
        request.app.state.connector_installer = found
    return found


@router.get("", summary="Installed connector packages and recent installs (instance admins)")
def list_packages(
    request: Request,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> ConnectorPackages:
    found = installer(request)
    return ConnectorPackages(
        installed=[InstalledConnectorOut.model_validate(r) for r in found.installed()],
        installs=[ConnectorInstallOut.model_validate(j.to_dict()) for j in found.jobs()],
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start installing a connector package from PyPI (instance admins)",
    responses=errors(400, 409),
)
def install_package(
    body: ConnectorInstallRequest,
    request: Request,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> ConnectorInstallOut:
    job = installer(request).start(body.package)
    return ConnectorInstallOut.model_validate(job.to_dict())


@router.get(
    "/installs/{install_id}",
    summary="An install's progress and outcome (instance admins)",
    responses=errors(404),
)
def get_install(
    install_id: str,
    request: Request,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> ConnectorInstallOut:
    return ConnectorInstallOut.model_validate(installer(request).get(install_id).to_dict())


@router.delete(
    "/{name}",
    summary="Remove an installed connector package (instance admins)",
    responses=errors(404, 409),
)
def uninstall_package(
    name: str,
    request: Request,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> InstalledConnectorOut:
    return InstalledConnectorOut.model_validate(installer(request).uninstall(name))
