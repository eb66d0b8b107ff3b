"""``POST /feedback``: ground truth by ``prediction_id``, protected by ``Authorization: Bearer <token>``; the
same router for the reference model server and for a team's own app (``mlmon.instrument.monitor``).

The token is checked before the body is read: a wrong or missing token gets 401 and nothing is written; then
the content type (415 unless JSON).
With no ``MLMON_FEEDBACK_TOKEN`` set, feedback is disabled (503) rather than open to anyone.
Classification labels are class names; for a two-class model ``1``/``0`` also mean positive/negative.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr, ValidationError, WithJsonSchema

from mlmon.errors import FeedbackDisabled, InvalidInput, Unauthorized, echo
from mlmon.http.json_body import FiniteFloat, check_content_type, parse_json, parse_time
from mlmon.spec import ModelSpec
from mlmon.store.base import LabelRecord
from mlmon.store.protocols import LabelSink

MAX_FEEDBACK_ITEMS = 10_000


class FeedbackItem(BaseModel):
    """Ground truth for one prediction (``observed_at`` defaults to now; naive times are UTC)."""

    model_config = ConfigDict(extra="forbid")
    prediction_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    label: StrictStr | FiniteFloat
    observed_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})] | None = Field(
        default=None,
        description="ISO 8601 time the outcome was observed (naive: UTC), 1677-09-22 .. 2262-04-11",
        examples=["2026-01-15T10:00:00Z"],
    )


class FeedbackOut(BaseModel):
    written: int = Field(description="Labels stored")
    replaced: int = Field(description="Of those, labels that replaced an earlier one (last wins)")
    unknown: int = Field(description="Labels for prediction ids the store does not hold (not written)")
    unknown_ids: list[str] = Field(description="Up to 100 of the unknown prediction ids")


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
    reason: str | None = None


def feedback_example(spec: ModelSpec) -> dict[str, Any]:
    label: str | float = spec.prediction.positive or 1.0
    return {"prediction_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0", "label": label, "observed_at": "2026-01-15T10:00:00Z"}


def _label_value(spec: ModelSpec, raw: str | float, field: str) -> str | float:
    prediction = spec.prediction
    if prediction.kind == "regression":
        if isinstance(raw, str):
            raise InvalidInput(field, "must be a number for a regression model")
        return float(raw)
    classes = prediction.classes or []
    if isinstance(raw, str):
        if raw not in classes:
            raise InvalidInput(field, f"{echo(raw)!r} is not one of the classes {', '.join(classes)}")
        return raw
    positive = prediction.positive
    if len(classes) == 2 and positive is not None and raw in (0.0, 1.0):
        return positive if raw == 1.0 else next(c for c in classes if c != positive)
    raise InvalidInput(field, f"must be one of the classes {', '.join(classes)}")


def _observed_at(raw: str | None, field: str) -> datetime:
    return datetime.now(UTC) if raw is None else parse_time(raw, field)


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


def feedback_router(
    spec: ModelSpec, token: Callable[[], SecretStr | None], labels: Callable[[], LabelSink]
) -> APIRouter:
    """``POST /feedback``; ``token()`` is the bearer token (None: feedback disabled), ``labels()`` the store the
    labels go to (it may raise StoreUnavailable)."""
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
            413: {"model": ErrorOut, "description": "Body larger than max_body_bytes"},
            415: {"model": ErrorOut, "description": "Content-Type is not application/json"},
            422: {"model": ErrorOut, "description": "Invalid label (field and reason)"},
            503: {"model": ErrorOut, "description": "Feedback disabled (no token set) or store unavailable"},
        },
    )
    async def feedback(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> FeedbackOut:
        secret = token()
        if secret is None:
            raise FeedbackDisabled("feedback is disabled", hint="set MLMON_FEEDBACK_TOKEN to enable it")
        expected = secret.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong bearer token for /feedback")
        check_content_type(request.headers.get("content-type"))
        body = await request.body()
        store = labels()
        result = await run_in_threadpool(lambda: store.upsert_labels(parse_feedback(spec, body)))
        return FeedbackOut(
            written=result.written,
            replaced=result.replaced,
            unknown=len(result.unknown),
            unknown_ids=list(result.unknown[:100]),
        )

    return router
