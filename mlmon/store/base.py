"""The inference-store contract shared by every backend and every service.

Documents (one per prediction, ``_id``/primary key = ``prediction_id``)::

    {"@timestamp": "2026-11-22T10:00:00.123Z", "prediction_id": "…",
     "model": {"name": "churn", "version": "3f2a…"},
     "features": {"tenure_months": 14.0, "plan": "basic", "has_discount": "true", "last_login_days": null},
     "missing": ["last_login_days"],
     "prediction": {"label": "churns", "score": 0.12},
     "response": {"kind": "ok"}, "latency_ms": 1.8}

Booleans are stored as the keywords ``"true"``/``"false"`` so that every backend treats them as categories.
Labels live apart (``mlmon-labels-<model>`` / table ``labels``), keyed by ``prediction_id``, last write wins.

Binned counts follow one convention on every backend, so drift numbers agree exactly:
numeric ``edges`` are the baseline's interior bin edges ``e_1 < … < e_{k-1}``; bin ``i`` holds values with
``e_i <= x < e_{i+1}`` (``np.searchsorted(edges, x, side="right")``), i.e. an Elasticsearch ``range``
aggregation with ``from`` inclusive and ``to`` exclusive. Categorical counts list the known categories in
order, then one ``__other__`` bin for everything unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from mlmon.errors import InvalidInput

ResponseKind = Literal["ok", "empty", "fallback"]
ReportKind = Literal["drift", "stats"]
OTHER = "__other__"


@dataclass(frozen=True)
class TimeWindow:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("TimeWindow needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")

    @classmethod
    def last(cls, seconds: float, end: datetime | None = None) -> TimeWindow:
        end = end or datetime.now(UTC)
        return cls(end - timedelta(seconds=seconds), end)

    def shift(self, seconds: float) -> TimeWindow:
        delta = timedelta(seconds=seconds)
        return TimeWindow(self.start - delta, self.end - delta)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


FeatureValue = float | str | None


@dataclass(frozen=True)
class InferenceEvent:
    """One prediction as the model saw it (after preprocessing, PII already hashed or dropped).

    ``timestamp`` is the event time (supplied by the client, or the server's time when it sent none): windows
    are cut on it. ``received_at`` is the server's clock when the request arrived (None when unknown, e.g.
    history loaded from a file); the gap between the two shows late or replayed events."""

    prediction_id: str
    timestamp: datetime
    model_name: str
    model_version: str
    features: Mapping[str, FeatureValue]
    missing: Sequence[str] = ()
    prediction_label: str | None = None
    score: float | None = None
    response_kind: ResponseKind = "ok"
    latency_ms: float = 0.0
    received_at: datetime | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "@timestamp": _iso(self.timestamp),
            "received_at": None if self.received_at is None else _iso(self.received_at),
            "prediction_id": self.prediction_id,
            "model": {"name": self.model_name, "version": self.model_version},
            "features": dict(self.features),
            "missing": list(self.missing),
            "prediction": {"label": self.prediction_label, "score": self.score},
            "response": {"kind": self.response_kind},
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_doc(
        cls, doc: Mapping[str, Any], parse_time: Callable[[str], datetime] = datetime.fromisoformat
    ) -> InferenceEvent:
        """The event of a stored document; ``parse_time`` reads its ISO times (the local log's decoder passes
        one that parses a request's shared time once)."""
        prediction = doc.get("prediction") or {}
        received = doc.get("received_at")
        return cls(
            prediction_id=doc["prediction_id"],
            timestamp=parse_time(doc["@timestamp"]),
            model_name=doc["model"]["name"],
            model_version=doc["model"]["version"],
            features=dict(doc.get("features") or {}),
            missing=list(doc.get("missing") or []),
            prediction_label=prediction.get("label"),
            score=prediction.get("score"),
            response_kind=(doc.get("response") or {}).get("kind", "ok"),
            latency_ms=float(doc.get("latency_ms") or 0.0),
            received_at=parse_time(received) if received else None,
        )


def _iso(ts: datetime) -> str:
    """Millisecond ISO-8601 in UTC with a ``Z``, as Elasticsearch shows dates."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LabelRecord:
    """Ground truth for one prediction; ``label`` is a class name or a number (regression)."""

    prediction_id: str
    label: str | float
    observed_at: datetime


@dataclass
class WriteResult:
    stored: int = 0
    duplicates: int = 0  # already stored (same prediction_id): not an error, replays are idempotent
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (prediction_id, reason), not retried


@dataclass
class LabelWriteResult:
    written: int = 0
    replaced: int = 0  # a label already existed for that prediction: last one wins, counted
    unknown: list[str] = field(default_factory=list)  # no such prediction_id: not written


@dataclass(frozen=True)
class NumericBins:
    feature: str
    edges: Sequence[float]  # interior edges, strictly increasing


@dataclass(frozen=True)
class CategoryBins:
    feature: str
    categories: Sequence[str]  # known categories; anything else counts as __other__


BinSpec = NumericBins | CategoryBins


@dataclass
class BinnedCounts:
    """Counts of one feature over a window: ``counts`` per bin, plus rows with no value.

    For numeric bins the stores also return ``sums``, the sum of the values in each bin (0.0 for an empty
    bin), so that means and binned Wasserstein distances computed from the bins match the exact values.
    Category bins have no sums (None)."""

    feature: str
    counts: np.ndarray
    missing: int
    total: int  # rows in the window (counts.sum() + missing)
    sums: np.ndarray | None = None  # float64, one per bin (numeric bins only)


@dataclass
class NumericSummary:
    feature: str
    count: int  # rows with a value
    missing: int
    mean: float | None
    std: float | None  # population standard deviation
    min: float | None
    max: float | None
    percentiles: dict[float, float | None]  # {1.0: …, 5.0: …, 50.0: …}


@dataclass(frozen=True)
class ReportRecord:
    """One monitoring run's report as a store keeps it: a small indexed summary (filters in Kibana and SQL)
    and the report's JSON body (kept, not indexed). The job that ran builds it; the store never looks inside
    the body."""

    kind: ReportKind
    timestamp: datetime  # the run's time; reports are read back newest first
    body: Mapping[str, Any]
    model_version: str | None = None
    status: str | None = None
    summary: str | None = None
    drift_detected: bool | None = None
    findings: Sequence[str] = ()  # names of what the run found (drifted features, breached SLOs, …)

    def __post_init__(self) -> None:
        if self.kind not in ("drift", "stats"):
            raise InvalidInput("kind", f"{self.kind!r} is not drift or stats")
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise InvalidInput("timestamp", "must be a timezone-aware datetime")
        if not isinstance(self.body, Mapping):
            raise InvalidInput("body", f"must be a mapping, got {type(self.body).__name__}")
        object.__setattr__(self, "findings", tuple(str(f) for f in self.findings))


@dataclass(frozen=True)
class StateRecord:
    """A model's incident state as the store keeps it: a JSON document and its revision.

    ``revision`` is opaque (SQLite: a counter; Elasticsearch: ``"<seq_no>:<primary_term>"``); hand it back to
    ``write_incident_state`` to replace exactly this version of the document (compare-and-set)."""

    body: Mapping[str, Any]
    revision: str


@dataclass(frozen=True)
class RetentionResult:
    """What ``apply_retention`` removed: the events of the UTC days before ``cutoff`` (and their labels)."""

    cutoff: datetime | None  # None: retention not configured, nothing deleted
    events_deleted: int = 0
    indices_deleted: tuple[str, ...] = ()  # Elasticsearch drops whole daily indices


# The Protocols live in ``mlmon.store.protocols`` (split by consumer); re-exported here so that
# ``from mlmon.store.base import InferenceStore`` keeps working. ``protocols`` imports this module only for
# type checking, so there is no import cycle.
from mlmon.store.protocols import (  # noqa: E402
    EventSink,
    EventWriter,
    IncidentStateStore,
    InferenceStore,
    LabelSink,
    Maintenance,
    ReportReader,
    ReportSink,
    WindowReader,
)

__all__ = [
    "OTHER",
    "BinSpec",
    "BinnedCounts",
    "CategoryBins",
    "EventSink",
    "EventWriter",
    "FeatureValue",
    "IncidentStateStore",
    "InferenceEvent",
    "InferenceStore",
    "LabelRecord",
    "LabelSink",
    "LabelWriteResult",
    "Maintenance",
    "NumericBins",
    "NumericSummary",
    "ReportKind",
    "ReportReader",
    "ReportRecord",
    "ReportSink",
    "ResponseKind",
    "RetentionResult",
    "StateRecord",
    "TimeWindow",
    "WindowReader",
    "WriteResult",
]
