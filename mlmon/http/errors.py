"""The one place where mlmon errors become HTTP responses.

Every error body has the same shape: ``{"error": <code>, "message": …}`` plus ``field`` and ``reason`` for a
``FieldError`` (422, 413, 415, 408) and ``hint`` when there is one. ``<code>`` is the error class's ``code``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlmon.errors import FieldError, InvalidInput, MlmonError

log = logging.getLogger(__name__)


def error_body(exc: MlmonError) -> dict[str, object]:
    body: dict[str, object] = {"error": exc.code, "message": exc.message}
    if isinstance(exc, FieldError):
        body["field"] = exc.field
        body["reason"] = exc.reason
    if exc.hint:
        body["hint"] = exc.hint
    return body


def error_headers(exc: MlmonError) -> dict[str, str] | None:
    if exc.http_status == 503:
        return {"Retry-After": "5"}
    if exc.http_status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if exc.http_status in (408, 413):
        return {"Connection": "close"}  # the rest of the body is not read
    return None


async def _mlmon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MlmonError)
    if exc.http_status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body(exc), status_code=exc.http_status, headers=error_headers(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return JSONResponse(error_body(InvalidInput(field, str(first.get("msg")))), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal_error", "message": "internal server error"}, status_code=500)


def install_mlmon_error_handler(app: FastAPI) -> None:
    """Only mlmon's own errors (what ``/feedback`` and ``Monitor.record`` raise), for a team's own app."""
    app.add_exception_handler(MlmonError, _mlmon_error)


def install_error_handlers(app: FastAPI) -> None:
    """The reference server: mlmon errors, request validation and anything unexpected, in one shape."""
    app.add_exception_handler(MlmonError, _mlmon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
