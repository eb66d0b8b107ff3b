"""`mlmon ingest`: past predictions into the inference store, through the live path's validation and bulk writes.

Chunk by chunk: rows → events and labels (``convert``: the event builder's booleans and PII handling, types
checked against the spec) → ``write_events`` (the store's validation, idempotent by prediction id: a prediction
already stored counts as *already present*) → ``upsert_labels`` for the events of the chunk that the store took.
A bad row is rejected with its reason and never stops the rows around it; the summary groups the rejections by
reason with the first row and value of each.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mlmon.history.convert import Rejection, RowConverter
from mlmon.history.progress import Progress
from mlmon.history.sources import HistorySource
from mlmon.store.base import WriteResult
from mlmon.store.common import retention_cutoff
from mlmon.store.protocols import EventWriter, LabelSink


class HistorySink(EventWriter, LabelSink, Protocol):
    """What ingest needs of a store: events and labels."""


@dataclass
class RejectedGroup:
    count: int
    first_row: int
    first_value: Any


@dataclass
class IngestSummary:
    source: str
    rows: int = 0
    loaded: int = 0
    already_present: int = 0
    rejected: dict[str, RejectedGroup] = field(default_factory=dict)
    labels_written: int = 0
    labels_replaced: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    versions: Counter[str] = field(default_factory=Counter)
    older_than_retention: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected_rows(self) -> int:
        return sum(g.count for g in self.rejected.values())

    def reject(self, rejection: Rejection) -> None:
        group = self.rejected.get(rejection.reason)
        if group is None:
            self.rejected[rejection.reason] = RejectedGroup(1, rejection.row, rejection.value)
        else:
            group.count += 1

    def lines(self) -> list[str]:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"ingested {self.source}: {self.rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)",
            f"  loaded {self.loaded:,}, already present {self.already_present:,}, rejected {self.rejected_rows:,}",
            f"  labels written {self.labels_written:,} ({self.labels_replaced:,} replaced an earlier one)",
        ]
        if self.first_time is not None and self.last_time is not None:
            first, last = self.first_time.isoformat("T", "seconds"), self.last_time.isoformat("T", "seconds")
            out.append(f"  event times {first} .. {last}")
        if self.versions:
            out.append("  model versions: " + ", ".join(f"{v} ({n:,})" for v, n in self.versions.most_common()))
        for reason, group in sorted(self.rejected.items(), key=lambda kv: -kv[1].count):
            shown = "" if group.first_value is None else f", value {_short(group.first_value)}"
            out.append(f"  rejected {group.count:,}: {reason} (first: row {group.first_row}{shown})")
        out += [f"  note: {note}" for note in self.notes]
        return out


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ingest(
    source: HistorySource,
    converter: RowConverter,
    store: HistorySink,
    *,
    retention_days: int | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> IngestSummary:
    """Load every chunk of ``source``; returns the summary (the store raising ``StoreUnavailable`` stops it: what
    was written stays, and running the same command again is safe)."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    cutoff = retention_cutoff(retention_days, now)
    summary = IngestSummary(source.description, notes=list(source.notes))
    first_row = 0
    for chunk in source.chunks():
        converted = converter.convert(chunk, first_row, now)
        first_row += len(chunk)
        summary.rows += len(chunk)
        for rejection in converted.rejected:
            summary.reject(rejection)
        written = store.write_events(converted.events) if converted.events else WriteResult()
        summary.loaded += written.stored
        summary.already_present += written.duplicates
        refused = {pid for pid, _ in written.rejected}
        for pid, reason in written.rejected:
            summary.reject(Rejection(converted.rows_of.get(pid, 0), reason))
        labels = [label for label in converted.labels if label.prediction_id not in refused]
        if labels:
            result = store.upsert_labels(labels)
            summary.labels_written += result.written
            summary.labels_replaced += result.replaced
        for event in converted.events:
            if event.prediction_id in refused:
                continue
            summary.versions[event.model_version] += 1
            if summary.first_time is None or event.timestamp < summary.first_time:
                summary.first_time = event.timestamp
            if summary.last_time is None or event.timestamp > summary.last_time:
                summary.last_time = event.timestamp
            if cutoff is not None and event.timestamp < cutoff:
                summary.older_than_retention += 1
        if progress is not None:
            progress.advance(len(chunk))
    if progress is not None:
        progress.finish()
    if summary.older_than_retention:
        summary.notes.append(
            f"{summary.older_than_retention:,} rows are older than the store's retention "
            f"(MLMON_STORE_RETENTION_DAYS={retention_days}): the statistics service deletes them at its next "
            "retention run; raise the retention (or run the backtest first)"
        )
    summary.seconds = time.monotonic() - started
    return summary
