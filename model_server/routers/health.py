"""``/healthz`` (the process answers) and ``/readyz`` (model loaded; the local inference log takes events).

``/readyz`` tells the truth about the inference log: ``store`` is ``ok``, ``spooling`` (the store is unreachable
or not answering, events wait in the local log: still ready) or ``unavailable`` (and the log cannot take
events), with ``store_reason``; ``log`` has its bytes, fill level, lag and oldest unshipped age; ``events`` the
outcome counts (stored, spooled, dropped, refused, dead_lettered). Not ready (503, with ``reason``) when the
model is not loaded, the log cannot be written, or the log is full (unless ``MLMON_LOG_FULL_READY``).
Both answer from memory, on the event loop, without waiting for scoring or the store.

Responses of ``/healthz``, ``/readyz`` and ``/predict`` name the worker process that answered
(``X-Mlmon-Worker: <pid>``), which tells the workers of ``mlmon serve --workers N`` apart.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

WORKER_HEADER = "x-mlmon-worker"
_ALIVE = b'{"status":"alive"}'

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Response:
    return Response(_ALIVE, media_type="application/json", headers={WORKER_HEADER: str(os.getpid())})


@router.get(
    "/readyz",
    summary="Readiness: model loaded and the local inference log takes events (store state and log detail)",
    responses={503: {"description": "Not ready (the body says why)"}},
)
async def readyz(request: Request) -> JSONResponse:
    ready, body = request.app.state.mlmon.readiness()
    return JSONResponse(body, status_code=200 if ready else 503, headers={WORKER_HEADER: str(os.getpid())})
