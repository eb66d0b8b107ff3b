"""``create_app(settings)``: the reference model server, built on ``mlmon.instrument``.

Middleware, outermost first: golden signals (so 408/413/415/422/401 are counted too) → body size and time
limit → FastAPI. The lifespan loads the model, opens the store and starts the inference log, then freezes the
objects that exist (``gc.freeze``: the garbage collector's full passes no longer stall the event loop for the
model's and the libraries' objects); on shutdown the log ships what it can within ``MLMON_LOG_CLOSE_TIMEOUT_S``
(the rest stays on disk) before the store is closed.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry

import mlmon
from mlmon.http.errors import install_error_handlers
from mlmon.http.feedback import feedback_router
from mlmon.http.limits import BodyLimitMiddleware
from mlmon.instrument import instrument, multiprocess
from mlmon.instrument.event_time import EventTimePolicy
from mlmon.settings import ModelServerSettings
from mlmon.spec import load_spec
from model_server.predictor import ServingModel
from model_server.routers.health import router as health_router
from model_server.routers.predict import predict_router
from model_server.schemas import RequestParser
from model_server.state import ServerState


def create_app(
    settings: ModelServerSettings,
    *,
    registry: CollectorRegistry | None = None,
    store: Any | None = None,
    model: ServingModel | None = None,
) -> FastAPI:
    """Build the app. ``store``/``model`` replace ``open_store``/``load_model`` (the caller keeps ownership
    of a store it passes in). The request schema comes from the model's spec, else ``settings.model_spec``."""
    registry = registry if registry is not None else CollectorRegistry()
    spec = model.spec if model is not None else load_spec(settings.model_spec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state: ServerState = app.state.mlmon
        await run_in_threadpool(state.start)
        # Everything alive now (libraries, the model) is left out of the collector's passes: a full pass over
        # them stalls every thread (the event loop too) for ~100 ms under load; only new objects are scanned.
        gc.collect()
        gc.freeze()
        # The scoring threads and the log's shipper hold the GIL in turns of this length; the event loop (health
        # checks, a lone request) waits for one turn at most.
        sys.setswitchinterval(settings.gil_switch_interval_ms / 1000.0)
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)
            multiprocess.mark_stopped()  # its in-flight and log gauges leave the merged /metrics

    app = FastAPI(
        title=f"mlmon model server: {spec.model}",
        description=spec.description or "Reference model server instrumented with mlmon",
        version=mlmon.__version__,
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    instrumentation = instrument(app, registry=registry, spec=spec)  # outermost: counts every response
    state = ServerState(settings, spec, registry, instrumentation, model=model, store=store)
    app.state.mlmon = state
    install_error_handlers(app)
    event_time = EventTimePolicy(settings.event_time_max_past_s, settings.event_time_max_future_s)
    parser = RequestParser(spec, settings.unknown_fields, settings.max_batch_size, event_time)
    app.include_router(predict_router(spec, parser))
    app.include_router(feedback_router(spec, lambda: settings.feedback_token, state.require_store))
    app.include_router(health_router)
    return app
