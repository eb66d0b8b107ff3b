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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

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
        return cls(end - pd.Timedelta(seconds=seconds).to_pytimedelta(), end)

    def shift(self, seconds: float) -> TimeWindow:
        delta = pd.Timedelta(seconds=seconds).to_pytimedelta()
        return TimeWindow(self.start - delta, self.end - delta)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


FeatureValue = float | str | None


@dataclass(frozen=True)
class InferenceEvent:
    """One prediction as the model saw it (after preprocessing, PII already hashed or dropped)."""

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

    def to_doc(self) -> dict[str, Any]:
        return {
            "@timestamp": self.timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "prediction_id": self.prediction_id,
            "model": {"name": self.model_name, "version": self.model_version},
            "features": dict(self.features),
            "missing": list(self.missing),
            "prediction": {"label": self.prediction_label, "score": self.score},
            "response": {"kind": self.response_kind},
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> InferenceEvent:
        prediction = doc.get("prediction") or {}
        return cls(
            prediction_id=doc["prediction_id"],
            timestamp=pd.Timestamp(doc["@timestamp"]).to_pydatetime(),
            model_name=doc["model"]["name"],
            model_version=doc["model"]["version"],
            features=dict(doc.get("features") or {}),
            missing=list(doc.get("missing") or []),
            prediction_label=prediction.get("label"),
            score=prediction.get("score"),
            response_kind=(doc.get("response") or {}).get("kind", "ok"),
            latency_ms=float(doc.get("latency_ms") or 0.0),
        )


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
    """Counts of one feature over a window: ``counts`` per bin, plus rows with no value."""

    feature: str
    counts: np.ndarray
    missing: int
    total: int  # rows in the window (counts.sum() + missing)


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
class RetentionResult:
    """What ``apply_retention`` removed: the events of the UTC days before ``cutoff`` (and their labels)."""

    cutoff: datetime | None  # None: retention not configured, nothing deleted
    events_deleted: int = 0
    indices_deleted: tuple[str, ...] = ()  # Elasticsearch drops whole daily indices


class EventWriter(Protocol):
    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        """Store events idempotently by prediction_id; raise StoreUnavailable when unreachable."""
        ...


class InferenceStore(EventWriter, Protocol):
    """Everything the services need from a store; each backend module implements it whole.

    ``model_version`` (where accepted) keeps only the rows of that model version (``model.version``);
    None means every version. The drift detector uses it so that a window spanning a deploy is compared
    with the serving version's baseline only.
    """

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"elasticsearch"``: the ``backend`` label of ``mlmon_backend_errors_total``."""
        ...

    def ensure_schema(self) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult: ...

    def count(self, window: TimeWindow, model_version: str | None = None) -> int: ...

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        """Rows of a window: columns prediction_id, timestamp, model_version, prediction_label, score,
        response_kind, latency_ms, plus the requested features (all when ``fields`` is None)."""
        ...

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        """Per-feature bin counts computed where the data lives (GROUP BY / aggregations)."""
        ...

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]: ...

    def response_counts(self, window: TimeWindow) -> dict[str, int]:
        """Rows per response kind (ok / empty / fallback)."""
        ...

    def labelled_predictions(self, window: TimeWindow, extra_fields: Sequence[str] = ()) -> pd.DataFrame:
        """Predictions of the window joined with their labels: prediction_id, timestamp, model_version,
        prediction_label, score, label, label_observed_at, plus ``extra_fields`` (e.g. segments).
        Predictions without a label have label NaN/None."""
        ...

    def write_report(self, kind: ReportKind, report: Mapping[str, Any]) -> None: ...

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]: ...

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete inference events (and their labels) of UTC days older than the configured retention;
        a no-op when retention is not configured. Raises StoreUnavailable when unreachable."""
        ...
