"""Liveness: answers 200 while the process serves."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from headwater import __version__
from headwater.api.deps import public_route

router = APIRouter(tags=["health"], dependencies=[Depends(public_route)])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
