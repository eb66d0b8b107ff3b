"""``monitor(app)``: one call that monitors a team's own FastAPI model server.

    app = FastAPI()
    mon = monitor(app)                      # settings from MLMON_* (spec, registered model, store, token)

    @app.post("/v1/score")
    def score(req: Request) -> dict:
        row = req.model_dump()
        value = float(model.predict(pd.DataFrame([row]))[0])
        [prediction_id] = mon.record([row], [value])     # before answering: the event is durable
        return {"prediction_id": prediction_id, "value": value}

What it wires: the golden-signal middleware and ``GET /metrics`` (on its own ``CollectorRegistry``), the input
and output recorders bound to the registered version's baseline (histogram buckets, ranges, categories), the
durable inference log (started and stopped with the app's lifespan; ``record`` appends before the handler
returns, and raises ``InferenceLogFull``/``InferenceLogUnavailable`` — answered 503 in the shared error
shape — rather than acknowledge a prediction it cannot log), ``POST /feedback`` (bearer token) and the error
handler for mlmon's errors. ``mon.status()`` is what a readiness probe should look at.

Several workers (``uvicorn app:app --workers N``): each worker has its own log directory; set
``PROMETHEUS_MULTIPROC_DIR`` for one coherent ``/metrics`` (see the README).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry

from mlmon.errors import ConfigError, InferenceLogUnavailable, ModelNotLoaded, StoreUnavailable
from mlmon.http.errors import install_mlmon_error_handler
from mlmon.http.feedback import feedback_router
from mlmon.inference_log import InferenceLog, LogConfig, LogStatus, PiiProtector
from mlmon.instrument.event_time import EventTimePolicy
from mlmon.instrument.events import EventBuilder
from mlmon.instrument.metrics import inference_log_metrics
from mlmon.instrument.middleware import REQUEST_STARTED
from mlmon.instrument.multiprocess import mark_stopped
from mlmon.instrument.setup import Instrumentation, instrument
from mlmon.registry.artifact import RegisteredModel, read_registered
from mlmon.settings import ModelServerSettings, load_settings
from mlmon.spec import ModelSpec, load_spec
from mlmon.store.base import ResponseKind
from mlmon.store.protocols import InferenceStore

log = logging.getLogger(__name__)


class Monitor:
    """Everything ``monitor(app)`` wired, for the handlers of the app."""

    def __init__(
        self,
        settings: ModelServerSettings,
        spec: ModelSpec,
        registered: RegisteredModel,
        instrumentation: Instrumentation,
        registry: CollectorRegistry,
        store: InferenceStore | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.registered = registered
        self.instrumentation = instrumentation
        self.registry = registry
        self.pii = PiiProtector(spec, settings.pii_mode, settings.pii_hash_key)
        self.events = EventBuilder(spec, registered.version, self.pii)
        self.event_time = EventTimePolicy(settings.event_time_max_past_s, settings.event_time_max_future_s)
        self.store: InferenceStore | None = store
        self._owns_store = store is None
        self.log: InferenceLog | None = None
        self.log_error: str | None = None
        self._regression = spec.prediction.kind == "regression"

    @property
    def model_version(self) -> str:
        return self.registered.version

    # -- lifecycle (the app's lifespan calls these) ------------------------------------------------------
    def start(self) -> None:
        from mlmon.store.factory import open_store, store_factory

        if self.store is None:
            try:
                self.store = open_store(self.settings, self.spec)
            except StoreUnavailable as exc:
                log.warning("inference store not reachable at start (%s); events wait in the local log", exc)
                self.store = open_store(self.settings, self.spec, check=False)
        inference_log = InferenceLog(
            self.settings.log_path / self.spec.model,
            self.store,
            config=LogConfig.from_settings(self.settings),
            metrics=inference_log_metrics(self.registry),
            sink_factory=store_factory(self.settings, self.spec) if self._owns_store else None,
            model=self.spec.model,
            model_version=self.model_version,
        )
        try:
            inference_log.start()
        except InferenceLogUnavailable as exc:
            self.log_error = str(exc)
            log.error("%s", exc)
            return
        self.log = inference_log

    def stop(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
        if self._owns_store and self.store is not None:
            self.store.close()
            self.store = None

    def require_store(self) -> InferenceStore:
        if self.store is None:
            raise StoreUnavailable("the inference store is not open (has the app started?)")
        return self.store

    def status(self) -> LogStatus:
        """The inference log's state (store ok / spooling / unavailable, bytes, lag, dead letters)."""
        if self.log is None:
            raise InferenceLogUnavailable(self.log_error or "the inference log is not started (has the app started?)")
        return self.log.status()

    # -- the request path --------------------------------------------------------------------------------
    def record(
        self,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[Any],
        *,
        scores: Sequence[float | None] | None = None,
        kinds: Sequence[ResponseKind] | None = None,
        event_times: Sequence[datetime | str | None] | None = None,
    ) -> list[str]:
        """Count the inputs and outputs of one request and log its events durably; returns the prediction ids.

        ``rows`` are the features the model saw (spec names); ``predictions`` the answers: numbers for a
        regression, class names for a classifier (then ``scores`` are the probabilities of the predicted —
        for a binary model the positive — class). A missing or non-finite answer is an ``empty`` response;
        ``kinds`` marks ``fallback``/``empty`` answers the app's own post-processing produced.
        ``event_times`` (aware datetimes or ISO 8601 strings, None for the server's time) are when the predicted
        events happened: windows are cut on them. One outside the skew of ``MLMON_EVENT_TIME_MAX_PAST_S`` /
        ``MLMON_EVENT_TIME_MAX_FUTURE_S`` raises ``InvalidInput`` naming ``event_times[i]`` (a 422 with the
        installed error handler) before anything is counted or logged."""
        if len(predictions) != len(rows) or (scores is not None and len(scores) != len(rows)):
            raise ValueError("rows, predictions (and scores) must have the same length")
        times = self.event_time.parse_all(event_times, len(rows), "event_times", datetime.now(UTC))
        if self.log is None:
            raise InferenceLogUnavailable(self.log_error or "the inference log is not started (has the app started?)")
        started = REQUEST_STARTED.get()
        latency_ms = (time.perf_counter() - started) * 1000.0 if started is not None else 0.0
        labels: list[str | None] = []
        values: list[float | None] = []
        kinds_out: list[ResponseKind] = []
        for i, answer in enumerate(predictions):
            score = _number(answer) if self._regression else (_number(scores[i]) if scores is not None else None)
            label = None if self._regression or answer is None else str(answer)
            kind = kinds[i] if kinds is not None else ("ok" if (label is not None or score is not None) else "empty")
            labels.append(label)
            values.append(score)
            kinds_out.append(kind)
        self.instrumentation.inputs.record(rows)
        outputs = self.instrumentation.outputs
        for score, label, kind in zip(values, labels, kinds_out, strict=True):
            outputs.record(score, label, kind)
        events = self.events.events(rows, labels, values, kinds_out, latency_ms, event_times=times)
        self.log.append(events)
        return [e.prediction_id for e in events]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def monitor(
    app: FastAPI,
    *,
    settings: ModelServerSettings | None = None,
    registry: CollectorRegistry | None = None,
    store: InferenceStore | None = None,
    feedback: bool = True,
    metrics_path: str | None = "/metrics",
) -> Monitor:
    """Wire mlmon into ``app`` (see the module docstring); call it before the app starts."""
    settings = settings or load_settings(ModelServerSettings)
    spec = load_spec(settings.model_spec)
    model_dir = settings.model_dir(spec.model)
    try:
        registered = read_registered(model_dir)
    except ModelNotLoaded as exc:
        raise ConfigError(
            f"no registered version of {spec.model} in {model_dir}: {exc.message}",
            hint="run `mlmon register` (the baseline mlmon compares with), or set MLMON_MODEL_PATH",
        ) from None
    registry = registry if registry is not None else CollectorRegistry()
    instrumentation = instrument(
        app,
        registry=registry,
        spec=spec,
        profile=registered.profile,
        model_version=registered.version,
        metrics_path=metrics_path,
    )
    mon = Monitor(settings, spec, registered, instrumentation, registry, store)
    install_mlmon_error_handler(app)
    if feedback:
        app.include_router(feedback_router(spec, lambda: settings.feedback_token, mon.require_store))
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        await run_in_threadpool(mon.start)
        try:
            async with original(application) as state:
                yield state
        finally:
            await run_in_threadpool(mon.stop)
            mark_stopped()  # several workers: its live gauges leave the merged /metrics

    app.router.lifespan_context = lifespan
    return mon
