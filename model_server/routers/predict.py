"""``POST /predict``: one instance or ``{"instances": [...]}``.

The handler only reads the body on the event loop; parsing, scoring, metrics and the append of the events to
the local inference log run in a worker thread — at most ``MLMON_SCORING_THREADS`` at once per worker process
(the work holds the GIL: more threads add no throughput, only waits for the event loop) — so ``/healthz``,
``/readyz`` and ``/metrics`` answer while batches are scored. The response is sent only once its events are
in the log (durable before acknowledged): a log that cannot take them gives 503 and nothing is acknowledged.
"""

from __future__ import annotations

import os
import time

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response

from mlmon.http.feedback import ErrorOut
from mlmon.http.json_body import check_content_type
from mlmon.spec import ModelSpec
from model_server.predictor import Predictor
from model_server.routers.health import WORKER_HEADER
from model_server.schemas import (
    BatchPredictionOut,
    PredictionOut,
    RequestParser,
    predict_request_schema,
)
from model_server.state import ServerState


def predict_router(spec: ModelSpec, parser: RequestParser) -> APIRouter:
    router = APIRouter(tags=["predict"])
    regression = spec.prediction.kind == "regression"

    limiters: list[anyio.CapacityLimiter] = []  # created on the event loop, at the first request

    def limiter(state: ServerState) -> anyio.CapacityLimiter:
        if not limiters:
            limiters.append(anyio.CapacityLimiter(state.settings.scoring_threads))
        return limiters[0]

    def handle(state: ServerState, predictor: Predictor, body: bytes, started: float) -> bytes:
        rows, batch, event_times = parser.parse(body)
        predictions, events = predictor.predict(rows, started, event_times)
        state.log_events(events)
        version = predictor.model.version
        items = [p.to_json(version, regression) for p in predictions]
        payload = {"predictions": items} if batch else items[0]
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)  # a non-finite score is null

    @router.post(
        "/predict",
        summary="Score one instance or a batch",
        description=(
            'Send one object, or `{"instances": [...]}` for a batch. Values outside the expected range and '
            "unseen categories are served (and counted); type errors, missing required features, NaN/Infinity, "
            "duplicate keys, invalid Unicode and unknown fields are refused with 422 naming the field. "
            "Each instance may carry `event_time` (ISO 8601 with an offset): the event time windows are cut on, "
            "within a bounded skew from the server's clock (else 422 naming the field). "
            "A 200 answer means the prediction's event is in the server's local inference log."
        ),
        openapi_extra={"requestBody": predict_request_schema(spec, parser.model, parser.max_batch_size)},
        responses={
            200: {"model": PredictionOut | BatchPredictionOut, "description": "One prediction, or a batch"},
            408: {"model": ErrorOut, "description": "Body not received within body_timeout_s"},
            413: {"model": ErrorOut, "description": "Body larger than max_body_bytes"},
            415: {"model": ErrorOut, "description": "Content-Type is not application/json"},
            422: {"model": ErrorOut, "description": "Invalid input (field and reason)"},
            503: {"model": ErrorOut, "description": "Model not loaded, or the inference log cannot take the events"},
        },
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        state: ServerState = request.app.state.mlmon
        predictor = state.require_predictor()
        check_content_type(request.headers.get("content-type"))
        body = await request.body()
        payload = await anyio.to_thread.run_sync(handle, state, predictor, body, started, limiter=limiter(state))
        return Response(payload, media_type="application/json", headers={WORKER_HEADER: str(os.getpid())})

    return router
