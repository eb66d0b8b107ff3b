"""Events as every store backend keeps them: one validation against the model spec, and plain JSON.

``normalize_event`` checks types (numbers, booleans as ``"true"``/``"false"``, string categories), turns NaN
into missing and non-finite scores into null, and returns the reason (naming the field) when an event cannot
be stored; a rejected event is never half-written. ``to_jsonable`` turns report bodies and unknown feature
values into plain JSON the same way on both backends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np

from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent

RESPONSE_KINDS = ("ok", "empty", "fallback")
MAX_ID_LENGTH = 512  # Elasticsearch's _id limit (bytes); applied to both backends


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _short(value: Any, limit: int = 64) -> str:
    """A bounded echo of a value in a rejection reason."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a lone surrogate, which no UTF-8 store can encode), or None."""
    if text.isascii():  # the common case, checked in C without encoding
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains an unpaired surrogate U+{ord(text[exc.start]):04X} at position {exc.start}"
    return None


def _nested_text_problem(value: Any, path: str) -> str | None:
    """The first string (key or value) inside plain JSON ``value`` that cannot be stored, with its path."""
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path}: {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                return f"{path}: a key {problem}"
            found = _nested_text_problem(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nested_text_problem(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _norm_feature(ftype: str, name: str, value: Any) -> tuple[Any, str | None]:
    """(normalised value, rejection reason or None)."""
    if value is None:
        return None, None
    if ftype == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return None, f"features.{name}: expected a number, got {type(value).__name__}"
        try:
            number = float(value)
        except OverflowError:
            return None, f"features.{name}: number too large for a double"
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
        return None, f"features.{name}: expected a boolean, got {_short(value)}"
    if not isinstance(value, str):
        return None, f"features.{name}: expected a string category, got {type(value).__name__}"
    problem = text_problem(value)
    return (None, f"features.{name}: {problem}") if problem else (value, None)


def _norm_extra(name: str, value: Any) -> tuple[Any, str | None]:
    """A feature outside the spec: kept as plain JSON (not part of the statistics), if it can be stored."""
    try:
        plain = to_jsonable(value)
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        return None, f"features.{name}: not storable as JSON ({type(exc).__name__})"
    return plain, _nested_text_problem(plain, f"features.{name}")


def _text_fields(event: InferenceEvent) -> str | None:
    """The first identifier or label of an event that cannot be stored, naming the field."""
    pid = event.prediction_id
    if not isinstance(pid, str) or not pid:
        return f"prediction_id: must be a non-empty string of at most {MAX_ID_LENGTH} bytes"
    label = event.prediction_label
    texts = [pid, event.model_name, event.model_version, label if isinstance(label, str) else "", *event.missing]
    texts += event.features
    try:  # the common case, all ASCII: one check in C (ASCII is one byte per character)
        if "".join(texts).isascii() and len(pid) <= MAX_ID_LENGTH:
            return None
    except TypeError:  # a name that is not a string: the checks below say which
        pass
    checks = [("prediction_id", pid), ("model.name", event.model_name), ("model.version", event.model_version)]
    if isinstance(event.prediction_label, str):
        checks.append(("prediction.label", event.prediction_label))
    for field, text in checks:
        if isinstance(text, str) and (problem := text_problem(text)):
            return f"{field}: {problem}"
    for i, m in enumerate(event.missing):  # field names are formatted only for the text that fails
        if isinstance(m, str) and (problem := text_problem(m)):
            return f"missing[{i}]: {problem}"
    for n in event.features:
        if isinstance(n, str) and (problem := text_problem(n)):
            return f"features: the name {n!r:.40}: {problem}"
    if len(pid.encode()) > MAX_ID_LENGTH:
        return f"prediction_id: must be a non-empty string of at most {MAX_ID_LENGTH} bytes"
    return None


def normalize_event(event: InferenceEvent, spec: ModelSpec) -> InferenceEvent | str:
    """The event as every backend stores it, or the reason it is rejected (naming the field)."""
    problem = _text_fields(event)
    if problem:
        return problem
    if not isinstance(event.timestamp, datetime) or event.timestamp.tzinfo is None:
        return "timestamp: must be a timezone-aware datetime"
    if event.received_at is not None and (
        not isinstance(event.received_at, datetime) or event.received_at.tzinfo is None
    ):
        return "received_at: must be a timezone-aware datetime"
    if event.model_name != spec.model:
        return f"model.name: {_short(event.model_name)} is not this store's model {spec.model!r}"
    if not isinstance(event.model_version, str) or not event.model_version:
        return "model.version: must be a non-empty string"
    if event.response_kind not in RESPONSE_KINDS:
        return f"response.kind: {_short(event.response_kind)} is not one of {', '.join(RESPONSE_KINDS)}"
    if any(not isinstance(m, str) for m in event.missing):
        return "missing: must list feature names"
    features: dict[str, Any] = {}
    by_name = _feature_types(spec)
    for name, value in event.features.items():
        ftype = by_name.get(name)
        if ftype == "numeric" and type(value) is float and -math.inf < value < math.inf:  # the common case
            features[name] = value
            continue
        if ftype is None:
            norm, reason = _norm_extra(str(name), value)
        else:
            norm, reason = _norm_feature(ftype, name, value)
        if reason:
            return reason
        features[str(name)] = norm
    try:
        score = None if event.score is None else _finite(event.score)  # non-finite → null (counted upstream)
        latency = _finite(event.latency_ms)
    except (TypeError, ValueError, OverflowError):
        return "prediction.score / latency_ms: must be numbers"
    if latency is None:
        return "latency_ms: must be a finite number"
    label = event.prediction_label
    if label is not None and not isinstance(label, str):
        label = str(label)
    nulls = [n for n, v in features.items() if v is None and n in by_name]
    missing = sorted({*event.missing, *nulls}) if event.missing or nulls else []
    return InferenceEvent(  # every field, like dataclasses.replace (which costs several times more)
        prediction_id=event.prediction_id,
        timestamp=event.timestamp,
        model_name=event.model_name,
        model_version=event.model_version,
        features=features,
        missing=missing,
        prediction_label=label,
        score=score,
        response_kind=event.response_kind,
        latency_ms=latency,
        received_at=event.received_at,
    )


_TYPES: dict[int, tuple[ModelSpec, dict[str, str]]] = {}


def _feature_types(spec: ModelSpec) -> dict[str, str]:
    """``{feature name: type}`` of a spec, built once per spec object (normalize runs per event)."""
    cached = _TYPES.get(id(spec))
    if cached is None or cached[0] is not spec:
        if len(_TYPES) > 64:
            _TYPES.clear()
        cached = _TYPES[id(spec)] = (spec, {f.name: f.type for f in spec.features})
    return cached[1]


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
