"""Instrumentation a team adds to its own FastAPI model server in a few lines::

    registry = CollectorRegistry()
    inst = instrument(app, registry=registry, spec=spec, profile=profile, model_version="3f2a")
    ...
    inst.inputs.record([row])                       # in the /predict handler, before PII hashing
    inst.outputs.record(score, label, kind="ok")

``/metrics`` is served from ``registry`` without the 307 redirect of a mounted sub-app.
"""

from __future__ import annotations

from mlmon.instrument.setup import Instrumentation, instrument, metrics_route

__all__ = ["Instrumentation", "instrument", "metrics_route"]
