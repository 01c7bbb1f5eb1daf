"""``GET /v1/postman_collection``: this deployment's API as a ready-to-import Postman file.

Public, like ``/openapi.json`` which it is generated from: it describes the API, holds no data
and no secret (the token is a ``{{access_token}}`` variable the user fills in).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from headwater.api.deps import SettingsDep, public_route
from headwater.api.paging import base_url
from headwater.services.postman import build_collection

router = APIRouter(tags=["postman"], dependencies=[Depends(public_route)])


@router.get(
    "/v1/postman_collection",
    summary="Postman collection of this API",
    response_model=dict[str, Any],
)
def postman_collection(request: Request, settings: SettingsDep) -> JSONResponse:
    """Every public endpoint as a Postman v2.1 collection, grouped by tag."""
    collection = build_collection(request.app.openapi(), base_url=base_url(request, settings))
    return JSONResponse(
        collection,
        headers={"Content-Disposition": 'inline; filename="headwater.postman_collection.json"'},
    )
