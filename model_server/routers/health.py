"""``/healthz`` (the process answers) and ``/readyz`` (model loaded; store reachable or spooling)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz",
    summary="Readiness: model loaded, and the store reachable or events spooling to disk",
    responses={503: {"description": "Not ready (the body says why)"}},
)
async def readyz(request: Request) -> JSONResponse:
    ready, body = request.app.state.mlmon.readiness()
    return JSONResponse(body, status_code=200 if ready else 503)
