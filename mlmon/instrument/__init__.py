"""Monitoring a team's own FastAPI model server.

``monitor(app)`` is the one call (metrics, recorders, the durable inference log, ``/feedback``; see
``mlmon.instrument.monitor``); ``instrument(app, …)`` is the lower level it builds on (metrics only)::

    mon = monitor(app)
    ...
    [prediction_id] = mon.record([row], [value])    # in the handler, before answering
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlmon.instrument.setup import Instrumentation, instrument, metrics_route

if TYPE_CHECKING:
    from mlmon.instrument.monitor import Monitor


def monitor(app: Any, **options: Any) -> Monitor:
    """``mlmon.instrument.monitor.monitor`` (imported on use: it pulls in the inference log and the stores)."""
    from mlmon.instrument.monitor import monitor as wire

    return wire(app, **options)


__all__ = ["Instrumentation", "instrument", "metrics_route", "monitor"]
