"""``POST /feedback``: ground truth by ``prediction_id``, protected by ``Authorization: Bearer <token>``.

The token is checked before the body is read: a wrong or missing token gets 401 and nothing is written.
With no ``MLMON_FEEDBACK_TOKEN`` set, feedback is disabled (503) rather than open to anyone.
Classification labels are class names; for a two-class model ``1``/``0`` also mean positive/negative.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from mlmon.errors import InvalidInput, MlmonError
from mlmon.spec import ModelSpec
from mlmon.store.base import LabelRecord
from model_server.schemas import ErrorOut, FeedbackItem, FeedbackOut, feedback_example, parse_json
from model_server.state import ServerState

MAX_FEEDBACK_ITEMS = 10_000


class Unauthorized(MlmonError):
    http_status = 401


class FeedbackDisabled(MlmonError):
    http_status = 503


def _label_value(spec: ModelSpec, raw: str | float, field: str) -> str | float:
    prediction = spec.prediction
    if prediction.kind == "regression":
        if isinstance(raw, str):
            raise InvalidInput(field, "must be a number for a regression model")
        return float(raw)
    classes = prediction.classes or []
    if isinstance(raw, str):
        if raw not in classes:
            raise InvalidInput(field, f"{raw!r} is not one of the classes {', '.join(classes)}")
        return raw
    positive = prediction.positive
    if len(classes) == 2 and positive is not None and raw in (0.0, 1.0):
        return positive if raw == 1.0 else next(c for c in classes if c != positive)
    raise InvalidInput(field, f"must be one of the classes {', '.join(classes)}")


def _observed_at(raw: str | None, field: str) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(field, f"{raw!r} is not an ISO 8601 time like 2026-01-15T10:00:00Z") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_feedback(spec: ModelSpec, body: bytes) -> list[LabelRecord]:
    data = parse_json(body)
    items: list[Any] = data if isinstance(data, list) else [data]
    if not items:
        raise InvalidInput("body", "empty list; send at least one label")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidInput("body", f"{len(items)} labels exceed the limit of {MAX_FEEDBACK_ITEMS} per request")
    records = []
    for i, item in enumerate(items):
        prefix = f"[{i}]." if isinstance(data, list) else ""
        if not isinstance(item, dict):
            raise InvalidInput(prefix.rstrip(".") or "body", "must be a JSON object")
        try:
            parsed = FeedbackItem.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "body"
            reason = "unknown field" if err["type"] == "extra_forbidden" else str(err["msg"])
            raise InvalidInput(prefix + name, reason) from None
        records.append(
            LabelRecord(
                prediction_id=parsed.prediction_id,
                label=_label_value(spec, parsed.label, prefix + "label"),
                observed_at=_observed_at(parsed.observed_at, prefix + "observed_at"),
            )
        )
    return records


def feedback_router(spec: ModelSpec) -> APIRouter:
    router = APIRouter(tags=["feedback"])
    bearer = HTTPBearer(auto_error=False, description="MLMON_FEEDBACK_TOKEN")
    example = feedback_example(spec)

    @router.post(
        "/feedback",
        summary="Ground truth for earlier predictions (one object or a list)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                FeedbackItem.model_json_schema(),
                                {"type": "array", "items": FeedbackItem.model_json_schema()},
                            ]
                        },
                        "example": example,
                    }
                },
            }
        },
        responses={
            200: {"model": FeedbackOut, "description": "Counts of written, replaced and unknown labels"},
            401: {"model": ErrorOut, "description": "Missing or wrong bearer token"},
            422: {"model": ErrorOut, "description": "Invalid label (field and reason)"},
            503: {"model": ErrorOut, "description": "Feedback disabled (no token set) or store unavailable"},
        },
    )
    async def feedback(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> FeedbackOut:
        state: ServerState = request.app.state.mlmon
        token = state.settings.feedback_token
        if token is None:
            raise FeedbackDisabled("feedback is disabled", hint="set MLMON_FEEDBACK_TOKEN to enable it")
        expected = token.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong bearer token for /feedback")
        records = parse_feedback(spec, await request.body())
        store = state.require_store()
        result = await run_in_threadpool(store.upsert_labels, records)
        return FeedbackOut(
            written=result.written,
            replaced=result.replaced,
            unknown=len(result.unknown),
            unknown_ids=list(result.unknown[:100]),
        )

    return router
