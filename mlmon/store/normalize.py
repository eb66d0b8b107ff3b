"""Events as every store backend keeps them: one validation against the model spec, and plain JSON.

``normalize_event`` checks types (numbers, booleans as ``"true"``/``"false"``, string categories), turns NaN
into missing and non-finite scores into null, and returns the reason (naming the field) when an event cannot
be stored; a rejected event is never half-written. ``to_jsonable`` turns report bodies and unknown feature
values into plain JSON the same way on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np

from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent

RESPONSE_KINDS = ("ok", "empty", "fallback")
MAX_ID_LENGTH = 512  # Elasticsearch's _id limit (bytes); applied to both backends


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _norm_feature(ftype: str, name: str, value: Any) -> tuple[Any, str | None]:
    """(normalised value, rejection reason or None)."""
    if value is None:
        return None, None
    if ftype == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return None, f"features.{name}: expected a number, got {type(value).__name__}"
        number = float(value)
        if math.isnan(number):
            return None, None  # NaN is how pandas says missing
        if math.isinf(number):
            return None, f"features.{name}: non-finite value {number}"
        return number, None
    if ftype == "boolean":
        if isinstance(value, (bool, np.bool_)):
            return ("true" if value else "false"), None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower(), None
        return None, f"features.{name}: expected a boolean, got {value!r}"
    if not isinstance(value, str):
        return None, f"features.{name}: expected a string category, got {type(value).__name__}"
    return value, None


def normalize_event(event: InferenceEvent, spec: ModelSpec) -> InferenceEvent | str:
    """The event as every backend stores it, or the reason it is rejected."""
    pid = event.prediction_id
    if not isinstance(pid, str) or not pid or len(pid.encode()) > MAX_ID_LENGTH:
        return f"prediction_id: must be a non-empty string of at most {MAX_ID_LENGTH} bytes"
    if not isinstance(event.timestamp, datetime) or event.timestamp.tzinfo is None:
        return "timestamp: must be a timezone-aware datetime"
    if event.received_at is not None and (
        not isinstance(event.received_at, datetime) or event.received_at.tzinfo is None
    ):
        return "received_at: must be a timezone-aware datetime"
    if event.model_name != spec.model:
        return f"model.name: {event.model_name!r} is not this store's model {spec.model!r}"
    if not isinstance(event.model_version, str) or not event.model_version:
        return "model.version: must be a non-empty string"
    if event.response_kind not in RESPONSE_KINDS:
        return f"response.kind: {event.response_kind!r} is not one of {', '.join(RESPONSE_KINDS)}"
    features: dict[str, Any] = {}
    by_name = {f.name: f for f in spec.features}
    for name, value in event.features.items():
        feature = by_name.get(name)
        if feature is None:
            features[name] = value  # kept as given; not part of the spec's statistics
            continue
        norm, reason = _norm_feature(feature.type, name, value)
        if reason:
            return reason
        features[name] = norm
    try:
        score = None if event.score is None else _finite(event.score)  # non-finite → null (counted upstream)
        latency = _finite(event.latency_ms)
    except (TypeError, ValueError):
        return "prediction.score / latency_ms: must be numbers"
    if latency is None:
        return "latency_ms: must be a finite number"
    label = event.prediction_label
    if label is not None and not isinstance(label, str):
        label = str(label)
    missing = sorted(set(event.missing) | {n for n in by_name if n in features and features[n] is None})
    return replace(event, features=features, missing=missing, score=score, latency_ms=latency, prediction_label=label)


# --- JSON for reports ---------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Plain JSON types (numpy → Python, non-finite floats → null, datetimes → ISO), same on both backends."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [to_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    return str(value)
