"""A store as a past-range run sees it: every read goes to the real store, nothing is written to it.

A backtest or a one-off ``--start/--end`` run computes what a live run would have, but must not leave reports
among the live ones (they are read back newest first), apply retention, write events, or touch the model's live
incident. Reports are kept in memory (``reports``) instead, and so is the incident state
(:class:`MemoryIncidentState`, never read from the live store); a write of events or labels is a bug and raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from mlmon.store.base import (
    BinnedCounts,
    BinSpec,
    InferenceEvent,
    InferenceStore,
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


class MemoryIncidentState:
    """``IncidentStateStore`` in memory: one document, compare-and-set on a counter (as the real stores do)."""

    def __init__(self) -> None:
        self._body: dict[str, Any] | None = None
        self._revision = 0

    def read_incident_state(self) -> StateRecord | None:
        if self._body is None:
            return None
        return StateRecord(json.loads(json.dumps(self._body)), str(self._revision))  # a copy, as if read back

    def write_incident_state(self, body: Mapping[str, Any], revision: str | None) -> str | None:
        current = str(self._revision) if self._body is not None else None
        if revision != current:
            return None
        self._body = json.loads(json.dumps(dict(body)))
        self._revision += 1
        return str(self._revision)


class DryStore:
    """``InferenceStore`` over ``inner``: reads pass through; reports are captured; the incident state is this
    run's own, in memory; no other writes."""

    def __init__(self, inner: InferenceStore, keep_reports: bool = False) -> None:
        self.inner = inner
        self.keep_reports = keep_reports
        self.reports: list[ReportRecord] = []
        self.incidents = MemoryIncidentState()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def ping(self) -> bool:
        return self.inner.ping()

    # -- reads ------------------------------------------------------------------------------------------
    def count(self, window: TimeWindow, model_version: str | None = None) -> int:
        return self.inner.count(window, model_version)

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        return self.inner.read_window(window, fields, limit, model_version)

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        return self.inner.binned_counts(window, bins, model_version)

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]:
        return self.inner.numeric_summaries(window, features, percentiles, model_version)

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        return self.inner.response_counts(window, model_version)

    def labelled_predictions(
        self, window: TimeWindow, extra_fields: Sequence[str] = (), model_version: str | None = None
    ) -> pd.DataFrame:
        return self.inner.labelled_predictions(window, extra_fields, model_version)

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        """The reports of this dry run, newest first (never the live ones)."""
        mine = [dict(r.body) for r in sorted(self.reports, key=lambda r: r.timestamp, reverse=True) if r.kind == kind]
        return mine[:limit]

    def read_incident_state(self) -> StateRecord | None:
        """This run's incident state (never the live one)."""
        return self.incidents.read_incident_state()

    # -- writes -----------------------------------------------------------------------------------------
    def write_incident_state(self, body: Mapping[str, Any], revision: str | None) -> str | None:
        return self.incidents.write_incident_state(body, revision)

    def write_report(self, record: ReportRecord) -> None:
        if self.keep_reports:
            self.reports.append(record)

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        raise RuntimeError("a dry run does not write inference events")

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        raise RuntimeError("a dry run does not write labels")

    # -- maintenance ------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        self.inner.ensure_schema()

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        return RetentionResult(None)  # never on a dry run: ``now`` is in the past

    def refresh(self) -> None:
        self.inner.refresh()

    def close(self) -> None:
        """The real store belongs to whoever opened it."""
