"""``instrument(app, …)``: golden-signal middleware, ``/metrics`` and the model recorders in one call."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import _bake_output
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mlmon.baseline.profile import BaselineProfile
from mlmon.instrument.metrics import (
    InputMetrics,
    OutputMetrics,
    golden_signal_metrics,
    input_metrics,
    output_metrics,
)
from mlmon.instrument.middleware import GoldenSignals, GoldenSignalsMiddleware
from mlmon.instrument.multiprocess import MultiProcessView, directory
from mlmon.instrument.recorders import InputRecorder, PredictionRecorder
from mlmon.spec import ModelSpec


class _AsgiEndpoint:
    """``/metrics`` as an ASGI app, so that Starlette's ``Route`` treats it as an app, not a handler.

    The exposition is rendered in a worker thread, one render at a time: with the input histograms it is tens of
    KB and takes milliseconds, which on the event loop held up ``/healthz`` and ``/readyz`` behind every scrape.
    In multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set when the process started) it serves the merged
    files of every worker instead of ``registry``, so any worker answers for all of them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        path = directory()
        self._view = MultiProcessView(path) if path is not None else None
        self._registry = self._view.registry if self._view is not None else registry
        self._lock = threading.Lock()

    def _render(self, accept: str, accept_encoding: str, params: dict[str, list[str]]) -> tuple[str, Any, bytes]:
        with self._lock:
            if self._view is not None:
                self._view.refresh()
            # prometheus_client's own ASGI and WSGI apps render with this (content negotiation, gzip, name[])
            return _bake_output(self._registry, accept, accept_encoding, params, False)  # type: ignore[no-untyped-call,no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        params = parse_qs(scope.get("query_string", b"").decode("utf8"))
        accept, encoding = ",".join(headers.getlist("accept")), ",".join(headers.getlist("accept-encoding"))
        status, out_headers, output = await anyio.to_thread.run_sync(self._render, accept, encoding, params)
        start = {
            "type": "http.response.start",
            "status": int(status.split(" ")[0]),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers],
        }
        await send(start)
        await send({"type": "http.response.body", "body": output})


def metrics_route(registry: CollectorRegistry, path: str = "/metrics") -> Route:
    """``GET /metrics`` as a plain route: a ``Mount`` would answer 307 to ``/metrics/``."""
    return Route(path, endpoint=_AsgiEndpoint(registry), methods=["GET"], include_in_schema=False)


class Instrumentation:
    """Metrics of one served model. ``inputs``/``outputs`` exist once a model version is bound."""

    def __init__(self, registry: CollectorRegistry, spec: ModelSpec, signals: GoldenSignals) -> None:
        self.registry = registry
        self.spec = spec
        self.signals = signals
        self._output_metrics: OutputMetrics | None = None
        self._input_metrics: InputMetrics | None = None
        self._inputs: InputRecorder | None = None
        self._outputs: PredictionRecorder | None = None

    @property
    def model_version(self) -> str:
        return self.signals.model_version

    @property
    def bound(self) -> bool:
        return self._outputs is not None

    @property
    def inputs(self) -> InputRecorder:
        if self._inputs is None:
            raise RuntimeError("no model version bound: call Instrumentation.bind() after loading the model")
        return self._inputs

    @property
    def outputs(self) -> PredictionRecorder:
        if self._outputs is None:
            raise RuntimeError("no model version bound: call Instrumentation.bind() after loading the model")
        return self._outputs

    def bind(
        self,
        model_version: str,
        profile: BaselineProfile | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        """Attach a model version (and its baseline). The score buckets are fixed by the first bind:
        a histogram's buckets cannot change within a process."""
        if self._output_metrics is None:
            edges = profile.prediction.score_edges if profile is not None else None
            self._output_metrics = output_metrics(self.registry, edges)
            self._input_metrics = input_metrics(self.registry)
        assert self._input_metrics is not None
        self.signals.bind(model_version)
        self._outputs = PredictionRecorder(
            self._output_metrics,
            self.spec.model,
            model_version,
            classes if classes is not None else (self.spec.prediction.classes or []),
        )
        self._inputs = InputRecorder(self._input_metrics, self.spec, model_version, profile)


def instrument(
    app: FastAPI,
    *,
    registry: CollectorRegistry,
    spec: ModelSpec,
    profile: BaselineProfile | None = None,
    model_version: str | None = None,
    metrics_path: str | None = "/metrics",
) -> Instrumentation:
    """Add golden signals and ``/metrics`` to ``app``; bind the model now if its version is known.

    Call before the app starts (middleware cannot be added to a running app). Pass ``metrics_path=None``
    when the app exposes the registry some other way.
    """
    signals = GoldenSignals(golden_signal_metrics(registry), spec.model)
    app.add_middleware(GoldenSignalsMiddleware, signals=signals)
    if metrics_path:
        app.router.routes.append(metrics_route(registry, metrics_path))
    inst = Instrumentation(registry, spec, signals)
    if model_version is not None:
        inst.bind(model_version, profile)
    return inst
