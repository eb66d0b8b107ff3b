"""Rules both store backends share, so that SQLite and Elasticsearch store and count the same things.

- ``accept_events``: every event through ``normalize.normalize_event``; a bad one is rejected with a reason
  naming the field, never half-written. ``plan_labels``: which labels are written and which ids are unknown.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlmon.errors import InvalidInput
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent, LabelRecord, LabelWriteResult, TimeWindow, WriteResult
from mlmon.store.fields import LABEL, LABEL_OBSERVED_AT, RESERVED_COLUMNS, TIMESTAMP, DocField
from mlmon.store.normalize import RESPONSE_KINDS, normalize_event, text_problem

FieldKind = Literal["numeric", "categorical"]

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
        if name == DocField.RECEIVED_AT:
            raise InvalidInput("feature", f"{name!r} is a time: read_window returns it, bins do not take it") from None
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds, truncated (what Elasticsearch keeps of a ``date``); exact integer arithmetic for
    any year a datetime holds (no nanosecond round trip, which overflows outside 1677-2262)."""
    if ts.tzinfo is None:
        raise ValueError("timestamp needs a timezone")
    return int((ts - _EPOCH) // _MS)


def ceil_ms(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("timestamp needs a timezone")
    return -int((_EPOCH - ts) // _MS)


def window_ms(window: TimeWindow) -> tuple[int, int]:
    return ceil_ms(window.start), ceil_ms(window.end)


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


# --- writes -------------------------------------------------------------------------------------------


def accept_events(events: Sequence[InferenceEvent], spec: ModelSpec, result: WriteResult) -> list[InferenceEvent]:
    """The normalised events a backend writes; the others go to ``result.rejected`` with their reason."""
    accepted = []
    for event in events:
        norm = normalize_event(event, spec)
        if isinstance(norm, str):
            result.rejected.append((str(event.prediction_id), norm))
        else:
            accepted.append(norm)
    return accepted


def check_labels(labels: Sequence[LabelRecord]) -> None:
    """InvalidInput naming the first label that cannot be stored; checked before anything is written."""
    for i, label in enumerate(labels):
        where = f"labels[{i}]"
        if not isinstance(label.prediction_id, str) or not label.prediction_id:
            raise InvalidInput(f"{where}.prediction_id", "must be a non-empty string")
        problem = text_problem(label.prediction_id)
        if problem:
            raise InvalidInput(f"{where}.prediction_id", problem)
        value = label.label
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise InvalidInput(f"{where}.label", problem)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite_number(value):
            raise InvalidInput(f"{where}.label", "must be a class name or a finite number")
        if not isinstance(label.observed_at, datetime) or label.observed_at.tzinfo is None:
            raise InvalidInput(f"{where}.observed_at", "must be a timezone-aware datetime")


def _finite_number(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def label_value(label: LabelRecord) -> str | float:
    """Class names stay text, regression targets become floats."""
    return label.label if isinstance(label.label, str) else float(label.label)


def plan_labels(
    labels: Sequence[LabelRecord], known: Mapping[str, int], result: LabelWriteResult
) -> list[tuple[LabelRecord, int]]:
    """The labels to write, in order (a later label for an id replaces an earlier one), each with its
    prediction's epoch ms; ids the store does not hold go to ``result.unknown`` once each."""
    planned = []
    for label in labels:
        at = known.get(label.prediction_id)
        if at is None:
            if label.prediction_id not in result.unknown:
                result.unknown.append(label.prediction_id)
            continue
        planned.append((label, at))
    return planned


def retention_cutoff(retention_days: int | None, now: datetime | None = None) -> datetime | None:
    """Start of the oldest UTC day retention keeps (None: retention not configured)."""
    if not retention_days:
        return None
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=retention_days), datetime.min.time(), UTC)


# --- reads -------------------------------------------------------------------------------------------


def response_counts(rows: Iterable[tuple[Any, Any]]) -> dict[str, int]:
    """(kind, count) pairs → every response kind with its count, zero when absent."""
    counts = dict.fromkeys(RESPONSE_KINDS, 0)
    counts.update({str(kind): int(n) for kind, n in rows})
    return counts


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
    """Same dtypes from every backend: UTC datetimes of millisecond precision (NaT when missing), floats for
    scores and numeric features (NaN when missing), None for missing categories; labels float when all
    numeric. The time columns arrive as epoch milliseconds (ints, or None for an unlabelled row)."""
    for col in (TIMESTAMP, DocField.RECEIVED_AT, LABEL_OBSERVED_AT):
        if col in frame:
            frame[col] = utc_from_ms(frame[col])
    for col in (DocField.SCORE, DocField.LATENCY_MS):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    if DocField.PREDICTED_LABEL in frame:
        frame[DocField.PREDICTED_LABEL] = _objects(frame[DocField.PREDICTED_LABEL])
    if LABEL in frame:
        values = [v for v in frame[LABEL] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        frame[LABEL] = (
            pd.to_numeric(frame[LABEL], errors="coerce").astype("float64") if numeric else _objects(frame[LABEL])
        )
    for ref in refs:
        if ref.kind == "numeric":
            frame[ref.name] = pd.to_numeric(frame[ref.name], errors="coerce").astype("float64")
        else:
            frame[ref.name] = _objects(frame[ref.name])
    return frame


def utc_from_ms(values: pd.Series) -> pd.Series:
    """Epoch milliseconds with gaps (None, NaN, pd.NA) → ``datetime64[ms, UTC]``, NaT in the gaps.

    Plain numpy, on purpose: ``pd.to_datetime(..., unit="ms")`` over nullable integers goes through a cache
    of unique values and a ``take`` that raised "'indices' contains values less than allowed" on windows
    mixing labelled and unlabelled predictions, and its nanosecond result overflows outside 1677-2262.
    Milliseconds as float64 are exact up to 2**53 ms (about 285,000 years)."""
    millis = pd.to_numeric(values.astype(object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    gaps = np.isnan(millis)
    stamps = np.where(gaps, 0, millis).astype("int64").astype("datetime64[ms]")
    stamps[gaps] = np.datetime64("NaT", "ms")
    return pd.Series(stamps, index=values.index, name=values.name).dt.tz_localize(UTC)


def _objects(series: pd.Series) -> pd.Series:
    series = series.astype(object)
    return series.where(series.notna(), None)
