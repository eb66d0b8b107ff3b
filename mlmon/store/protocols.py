"""What each consumer needs from an inference store, one small ``Protocol`` per consumer.

    EventSink      the inference log (model server): write events, ask whether the store answers
    LabelSink      the feedback route: ground truth by prediction id
    WindowReader   the statistics service and the drift detector: counts, rows, bins, summaries of a window
    ReportSink     both monitoring jobs: one report per run
    ReportReader   people and tests reading the latest reports back
    IncidentStateStore  both monitoring jobs: the model's shared incident state (compare-and-set)
    Maintenance    schema, retention, visibility of recent writes, closing
    InferenceStore all of them: what a backend (``sqlite``, ``elasticsearch``) implements

A consumer types its dependency with the narrowest Protocol it uses, so a test double or a new backend only
needs those methods. Every window read takes ``model_version`` (None: every version), so a window spanning a
deploy can be restricted to the serving version's rows.

``binned_counts`` and ``numeric_summaries`` take spec feature names or document fields
(``prediction.score``, ``prediction.label``, ``response.kind``, ``model.version``, ``latency_ms``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # no runtime import: ``base`` re-exports these Protocols, and pandas stays out of it
    import pandas as pd

    from mlmon.store.base import (
        BinnedCounts,
        BinSpec,
        InferenceEvent,
        LabelRecord,
        LabelWriteResult,
        NumericSummary,
        ReportKind,
        ReportRecord,
        RetentionResult,
        StateRecord,
        TimeWindow,
        WriteResult,
    )


class EventWriter(Protocol):
    """Only ``write_events``: what the inference-log writer needs to ship a batch (see :class:`EventSink`)."""

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        """Store events idempotently by prediction_id; raise StoreUnavailable when unreachable."""
        ...


class EventSink(EventWriter, Protocol):
    """Where the inference log ships its events."""

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"elasticsearch"``: the ``backend`` label of ``mlmon_backend_errors_total``."""
        ...

    def ping(self) -> bool:
        """True when the store answers now; never raises."""
        ...


class LabelSink(Protocol):
    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        """Ground truth by prediction id, last write wins; ids the store does not hold are not written."""
        ...


class WindowReader(Protocol):
    """Reads of a time window ``[start, end)``; ``model_version`` keeps only that version's rows."""

    def count(self, window: TimeWindow, model_version: str | None = None) -> int: ...

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        """Rows of a window in (timestamp, prediction_id) order: columns prediction_id, timestamp,
        model_version, prediction_label, score, response_kind, latency_ms, then the requested features (all
        when ``fields`` is None)."""
        ...

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        """Per-field bin counts computed where the data lives (GROUP BY / aggregations)."""
        ...

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]: ...

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        """Rows per response kind (``ok``, ``empty``, ``fallback``; zero when absent)."""
        ...

    def labelled_predictions(
        self, window: TimeWindow, extra_fields: Sequence[str] = (), model_version: str | None = None
    ) -> pd.DataFrame:
        """Predictions of the window joined with their labels: prediction_id, timestamp, model_version,
        prediction_label, score, label, label_observed_at, plus ``extra_fields`` (e.g. segments).
        Predictions without a label have label None/NaN and label_observed_at NaT."""
        ...


class ReportSink(Protocol):
    def write_report(self, record: ReportRecord) -> None:
        """Store one run's report: its indexed summary and its JSON body."""
        ...


class ReportReader(Protocol):
    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        """The JSON bodies of the newest reports of ``kind``, newest first."""
        ...


class IncidentStateStore(Protocol):
    """The model's incident state, shared by the statistics service, the drift detector, their restarts and
    replicas: one JSON document per model (SQLite table ``incidents``, Elasticsearch index
    ``mlmon-incidents-<model>``), replaced by compare-and-set so that concurrent writers never lose an update."""

    def read_incident_state(self) -> StateRecord | None:
        """The stored document and its revision; None when there is none yet. StoreUnavailable when unreachable."""
        ...

    def write_incident_state(self, body: Mapping[str, Any], revision: str | None) -> str | None:
        """Replace the document if it is still at ``revision`` (None: only if there is none yet); the new
        revision, or None when another writer got there first (read again, re-apply, retry)."""
        ...


class Maintenance(Protocol):
    def ensure_schema(self) -> None:
        """Create (or repair) tables / templates and indices; StoreUnavailable when unreachable."""
        ...

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete inference events (and their labels) of UTC days older than the configured retention;
        a no-op when retention is not configured. Raises StoreUnavailable when unreachable."""
        ...

    def refresh(self) -> None:
        """Make every write so far visible to reads (Elasticsearch is near-real-time; SQLite: no-op)."""
        ...

    def close(self) -> None: ...


class InferenceStore(
    EventSink, LabelSink, WindowReader, ReportSink, ReportReader, IncidentStateStore, Maintenance, Protocol
):
    """Everything the services need from a store; each backend module implements it whole."""
