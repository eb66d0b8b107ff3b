"""The one place where mlmon errors become HTTP responses.

Every error body has the same shape: ``{"error": <kind>, "message": …}`` plus ``field`` and ``reason``
for ``InvalidInput`` (422) and ``hint`` when there is one.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlmon.errors import InvalidInput, MlmonError

log = logging.getLogger(__name__)


def _kind(exc: Exception) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_body(exc: MlmonError) -> dict[str, object]:
    body: dict[str, object] = {"error": _kind(exc), "message": exc.message}
    if isinstance(exc, InvalidInput):
        body["field"] = exc.field
        body["reason"] = exc.reason
    if exc.hint:
        body["hint"] = exc.hint
    return body


async def _mlmon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MlmonError)
    if exc.http_status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": "5"} if exc.http_status == 503 else None
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return JSONResponse(error_body(InvalidInput(field, str(first.get("msg")))), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal_error", "message": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MlmonError, _mlmon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
