"""``POST /predict``: one instance or ``{"instances": [...]}``; the inference events leave off the request path."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Request, Response

from mlmon.spec import ModelSpec
from model_server.schemas import (
    BatchPredictionOut,
    ErrorOut,
    PredictionOut,
    RequestParser,
    predict_request_schema,
)
from model_server.state import ServerState


def predict_router(spec: ModelSpec, parser: RequestParser) -> APIRouter:
    router = APIRouter(tags=["predict"])
    regression = spec.prediction.kind == "regression"

    @router.post(
        "/predict",
        summary="Score one instance or a batch",
        description=(
            'Send one object, or `{"instances": [...]}` for a batch. Values outside the expected range and '
            "unseen categories are served (and counted); type errors, missing required features, NaN/Infinity "
            "and unknown fields are refused with 422 naming the field."
        ),
        openapi_extra={"requestBody": predict_request_schema(spec, parser.model, parser.max_batch_size)},
        responses={
            200: {"model": PredictionOut | BatchPredictionOut, "description": "One prediction, or a batch"},
            413: {"model": ErrorOut, "description": "Body larger than max_body_bytes"},
            422: {"model": ErrorOut, "description": "Invalid input (field and reason)"},
            503: {"model": ErrorOut, "description": "Model not loaded"},
        },
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        state: ServerState = request.app.state.mlmon
        predictor = state.require_predictor()
        rows, batch = parser.parse(await request.body())
        predictions, events = predictor.predict(rows, started)
        if state.writer is not None:
            state.writer.submit(events)
        version = predictor.model.version
        items = [p.to_json(version, regression) for p in predictions]
        payload = {"predictions": items} if batch else items[0]
        return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")

    return router
