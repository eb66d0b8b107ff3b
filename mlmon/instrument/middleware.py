"""Golden signals for any ASGI app: request count by status, duration and in-flight requests.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one copies bodies and breaks streaming). The
``endpoint`` label is the route template (``/items/{id}``), never the raw path; a path no route knows is
``other``, so scanners cannot blow up the series count. Responses produced before routing (413 from a
body-size guard, 401 from an auth layer) still get their route template by matching the app's routes.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from typing import Any

from prometheus_client.metrics import Counter, Gauge, Histogram
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlmon.instrument.metrics import GoldenSignalMetrics

OTHER_ENDPOINT = "other"
# When the request being served started (perf_counter), for the latency an inference event records.
REQUEST_STARTED: ContextVar[float | None] = ContextVar("mlmon_request_started", default=None)


class GoldenSignals:
    """Cached metric children for one model; ``bind`` switches the model version (e.g. after a load)."""

    def __init__(self, metrics: GoldenSignalMetrics, model: str, model_version: str = "unknown") -> None:
        self._metrics = metrics
        self.model = model
        self.bind(model_version)

    def bind(self, model_version: str) -> None:
        self.model_version = model_version
        self._requests: dict[tuple[str, int], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self.in_flight: Gauge = self._metrics.in_flight.labels(self.model, model_version)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        counter = self._requests.get((endpoint, status))
        if counter is None:
            counter = self._metrics.requests.labels(self.model, self.model_version, endpoint, str(status))
            self._requests[(endpoint, status)] = counter
        counter.inc()
        histogram = self._durations.get(endpoint)
        if histogram is None:
            histogram = self._metrics.duration.labels(self.model, self.model_version, endpoint)
            self._durations[endpoint] = histogram
        histogram.observe(seconds)


def _route_templates(routes: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Every route template of an app, including routers added with ``include_router``."""
    templates: list[str] = []
    for route in routes or ():
        path = getattr(route, "path", None)
        if isinstance(path, str):
            templates.append(prefix + path)
        elif depth < 8 and hasattr(route, "original_router"):  # FastAPI's included-router entry
            context = getattr(route, "include_context", None)
            templates += _route_templates(
                route.original_router.routes, prefix + str(getattr(context, "prefix", "") or ""), depth + 1
            )
    return templates


class _TemplateMatcher:
    """Maps a raw path to a route template for responses sent before routing (413, 401 from middleware)."""

    def __init__(self) -> None:
        self._app: Any = None
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def __call__(self, scope: Scope) -> str:
        app = scope.get("app")
        if app is not self._app:  # built once per app, after its routes are registered
            self._patterns = [(compile_path(t)[0], t) for t in _route_templates(getattr(app, "routes", ()))]
            self._app = app
        path = scope.get("path", "")
        # FastAPI puts the un-prefixed APIRoute of an included router in scope["route"]: prefer the full
        # template that ends with it; the first matching template otherwise (Starlette's order).
        routed = getattr(scope.get("route"), "path", None)
        first: str | None = None
        for pattern, template in self._patterns:
            if pattern.match(path):
                if not isinstance(routed, str) or template.endswith(routed):
                    return template
                first = first or template
        if first is not None:
            return first
        return routed if isinstance(routed, str) else OTHER_ENDPOINT


def endpoint_of(scope: Scope, matcher: _TemplateMatcher | None = None) -> str:
    """The full route template that handled (or would handle) this request, else ``other``."""
    return (matcher or _TemplateMatcher())(scope)


class GoldenSignalsMiddleware:
    """Counts every HTTP response (including 401/413/422 and unhandled errors as 500)."""

    def __init__(self, app: ASGIApp, signals: GoldenSignals) -> None:
        self.app = app
        self.signals = signals
        self._matcher = _TemplateMatcher()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server error middleware sends when the app raises
        in_flight = self.signals.in_flight
        in_flight.inc()
        start = time.perf_counter()
        REQUEST_STARTED.set(start)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            in_flight.dec()
            self.signals.observe(endpoint_of(scope, self._matcher), status, time.perf_counter() - start)
