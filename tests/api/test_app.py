"""App factory behaviour: health, docs, one error shape, JSON 404s, no 500 for bad input."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict

from headwater.api.deps import public_route
from headwater.errors import Conflict, InvalidInput, NotFound, RateLimited

pytestmark = pytest.mark.anyio


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Headwater API"
    assert "/healthz" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


def _add_probe_routes(app: FastAPI) -> None:
    @app.post("/probe/validate", dependencies=[Depends(public_route)])
    def validate(body: _Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/probe/raise/{kind}", dependencies=[Depends(public_route)])
    def raise_error(kind: str) -> None:
        errors = {
            "invalid": InvalidInput("bad value"),
            "missing": NotFound("River x was not found"),
            "conflict": Conflict("already exists"),
            "limited": RateLimited("slow down", retry_after=7),
        }
        raise errors[kind]

    @app.get("/probe/crash", dependencies=[Depends(public_route)])
    def crash() -> None:
        raise RuntimeError("boom")


async def test_validation_errors_use_fastapi_shape(app: FastAPI, client: httpx.AsyncClient) -> None:
    _add_probe_routes(app)
    response = await client.post("/probe/validate", json={"name": "x", "size": "big", "extra": 1})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {tuple(e["loc"]) for e in detail} == {("body", "size"), ("body", "extra")}
    assert all(set(e) == {"type", "loc", "msg", "input"} for e in detail)
    malformed = await client.post(
        "/probe/validate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("invalid", 400, "bad value"),
        ("missing", 404, "River x was not found"),
        ("conflict", 409, "already exists"),
        ("limited", 429, "slow down"),
    ],
)
async def test_domain_errors_map_to_one_shape(
    app: FastAPI, client: httpx.AsyncClient, kind: str, status: int, message: str
) -> None:
    _add_probe_routes(app)
    response = await client.get(f"/probe/raise/{kind}")
    assert response.status_code == status
    assert response.json() == {"detail": message}
    if kind == "limited":
        assert response.headers["retry-after"] == "7"


async def test_unexpected_errors_are_json_without_internals(app: FastAPI) -> None:
    _add_probe_routes(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/probe/crash")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "boom" not in response.text
