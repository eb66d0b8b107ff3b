"""Rules both store backends share, so that SQLite and Elasticsearch store and count the same things.

- ``normalize_event``: one validation of an event against the model spec (types, booleans as
  ``"true"``/``"false"``, NaN → missing, non-finite scores → null). A bad event is rejected with a reason
  naming the field; it is never half-written.
- ``resolve_field``: what a name in ``binned_counts``/``numeric_summaries`` refers to. Spec features, plus
  the document fields of ``mlmon.store.fields.DocField`` (spec features win on a name clash), so output drift
  and latency use the same code path.
- Times are compared as integer epoch milliseconds (Elasticsearch's ``date`` precision); a window
  ``[start, end)`` becomes ``[ceil_ms(start), ceil_ms(end))``, which is exact for millisecond timestamps.
- Percentiles use linear interpolation between neighbouring ranks (numpy's default method).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlmon.errors import InvalidInput
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent, TimeWindow
from mlmon.store.fields import RESERVED_COLUMNS, DocField

FieldKind = Literal["numeric", "categorical"]
RESPONSE_KINDS = ("ok", "empty", "fallback")
MAX_ID_LENGTH = 512  # Elasticsearch's _id limit (bytes); applied to both backends

# Document fields that can be binned or summarised like features: field -> (kind, SQLite column).
DOC_FIELDS: dict[DocField, tuple[FieldKind, str]] = {
    DocField.SCORE: ("numeric", "score"),
    DocField.PREDICTED_LABEL: ("categorical", "prediction_label"),
    DocField.RESPONSE_KIND: ("categorical", "response_kind"),
    DocField.MODEL_VERSION: ("categorical", "model_version"),
    DocField.LATENCY_MS: ("numeric", "latency_ms"),
}


@dataclass(frozen=True)
class FieldRef:
    name: str
    kind: FieldKind
    column: str  # SQLite column
    es_path: str  # Elasticsearch field


def feature_column(name: str) -> str:
    # Prefixed so that a feature called "score" cannot collide with the fixed columns.
    return f"f_{name}"


def resolve_field(spec: ModelSpec, name: str) -> FieldRef:
    try:
        feature = spec.feature(name)
    except KeyError:
        if name in DOC_FIELDS:
            doc_kind, column = DOC_FIELDS[DocField(name)]
            return FieldRef(str(name), doc_kind, column, str(name))
        known = ", ".join([*spec.feature_names, *DOC_FIELDS])
        raise InvalidInput("feature", f"unknown feature {name!r}; known: {known}") from None
    kind: FieldKind = "numeric" if feature.is_numeric else "categorical"
    return FieldRef(name, kind, feature_column(name), f"features.{name}")


def frame_refs(spec: ModelSpec, fields: Sequence[str] | None) -> list[FieldRef]:
    """The spec features a frame read returns as columns (all when ``fields`` is None)."""
    names = spec.feature_names if fields is None else list(fields)
    refs = [resolve_field(spec, n) for n in names]
    bad = [r.name for r in refs if not r.es_path.startswith("features.")]
    if bad:
        raise InvalidInput("fields", f"not features: {', '.join(bad)} (they are always returned)")
    clash = [r.name for r in refs if r.name in RESERVED_COLUMNS]
    if clash:
        raise InvalidInput("fields", f"feature {clash[0]!r} has the name of a window column; rename it in the spec")
    return refs


def checked_edges(feature: str, edges: Sequence[float]) -> list[float]:
    out = [float(e) for e in edges]
    if not all(math.isfinite(e) for e in out) or any(b <= a for a, b in itertools.pairwise(out)):
        raise InvalidInput(f"bins.{feature}", "edges must be finite and strictly increasing")
    return out


def check_kind(ref: FieldRef, wanted: FieldKind, what: str) -> None:
    if ref.kind != wanted:
        raise InvalidInput(f"bins.{ref.name}", f"{what} needs a {wanted} field, {ref.name!r} is {ref.kind}")


# --- time -------------------------------------------------------------------------------------------


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds, truncated (what Elasticsearch keeps of a ``date``)."""
    if ts.tzinfo is None:
        raise ValueError("timestamp needs a timezone")
    return int(pd.Timestamp(ts).as_unit("ns").value // 1_000_000)


def ceil_ms(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("timestamp needs a timezone")
    return -(-int(pd.Timestamp(ts).as_unit("ns").value) // 1_000_000)


def window_ms(window: TimeWindow) -> tuple[int, int]:
    return ceil_ms(window.start), ceil_ms(window.end)


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


# --- events -------------------------------------------------------------------------------------------


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


# --- percentiles ----------------------------------------------------------------------------------------


def percentile_ranks(n: int, p: float) -> tuple[int, int, float]:
    """0-based neighbouring ranks and weight of linear interpolation (numpy's ``method="linear"``)."""
    h = (n - 1) * p / 100.0
    lo = math.floor(h)
    return lo, min(lo + 1, n - 1), h - lo


def check_percentiles(percentiles: Sequence[float]) -> None:
    for p in percentiles:
        if not 0 <= p <= 100:
            raise InvalidInput("percentiles", f"{p} is outside [0, 100]")


# --- frames -------------------------------------------------------------------------------------------


def typed_frame(frame: pd.DataFrame, refs: Sequence[FieldRef]) -> pd.DataFrame:
    """Same dtypes from every backend: UTC timestamps (from epoch ms), floats for scores and numeric
    features (NaN when missing), None for missing categories; labels float when all numeric."""
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
    for col in (DocField.SCORE, DocField.LATENCY_MS):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    if DocField.PREDICTED_LABEL in frame:
        frame[DocField.PREDICTED_LABEL] = _objects(frame[DocField.PREDICTED_LABEL])
    if "label_observed_at" in frame:
        # Integer milliseconds with NA for unlabelled rows: float NaN * 1e6 inside pandas has overflowed once.
        millis = pd.to_numeric(frame["label_observed_at"], errors="coerce").round().astype("Int64")
        frame["label_observed_at"] = pd.to_datetime(millis, unit="ms", utc=True)
    if "label" in frame:
        values = [v for v in frame["label"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        frame["label"] = (
            pd.to_numeric(frame["label"], errors="coerce").astype("float64") if numeric else _objects(frame["label"])
        )
    for ref in refs:
        if ref.kind == "numeric":
            frame[ref.name] = pd.to_numeric(frame[ref.name], errors="coerce").astype("float64")
        else:
            frame[ref.name] = _objects(frame[ref.name])
    return frame


def _objects(series: pd.Series) -> pd.Series:
    series = series.astype(object)
    return series.where(series.notna(), None)
