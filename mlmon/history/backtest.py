"""`mlmon backtest`: what mlmon would have said over a past range, window by window, as if it had run live.

For each window of the plan, every installed service's window job computes its live run over that window
(``outcome``), then the incident policy takes the runs at the window's end (``incidents``). The result is the
timeline (symptoms, causes, the open incident per window) and the incidents that would have opened: when, the
kind of change, the headline, how long they stayed open, and how many emails they would have sent.

A second setting (``compare``) runs the same windows again with other settings, so two thresholds or policies
can be compared on the same history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlmon.history.incidents import OpenIncident, PolicyReplay
from mlmon.history.outcome import WindowJob, WindowJobFactory, WindowJobSetup, WindowOutcome
from mlmon.history.progress import Progress
from mlmon.history.windows import WindowPlan
from mlmon.notify.base import Notifier
from mlmon.notify.policy import Rules
from mlmon.store.base import InferenceStore, TimeWindow


@dataclass
class WindowRecord:
    window: TimeWindow
    outcomes: dict[str, WindowOutcome]
    incident: OpenIncident | None  # open after this window's runs
    events: list[str] = field(default_factory=list)  # emails the policy let out (event:incident id)

    @property
    def rows(self) -> int:
        return max((o.rows for o in self.outcomes.values()), default=0)


@dataclass
class IncidentSpan:
    """An incident as the backtest saw it: opened after ``first_window``, open for ``windows`` windows."""

    id: str
    opened_at: datetime
    first_window: TimeWindow
    kind: str
    headline: str
    severity: str
    paged: bool = True  # actionable at some window (a symptom or a break); False: context only, in the digest
    windows: int = 1
    closed_at: datetime | None = None  # None: still open at the end of the range

    @property
    def duration(self) -> timedelta | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at


@dataclass
class BacktestRun:
    label: str
    overrides: Mapping[str, Any]
    records: list[WindowRecord] = field(default_factory=list)
    incidents: list[IncidentSpan] = field(default_factory=list)
    emails: int = 0
    seconds: float = 0.0


def _track(spans: list[IncidentSpan], record: WindowRecord, previous: OpenIncident | None) -> None:
    current = record.incident
    if previous is not None and (current is None or current.id != previous.id) and spans:
        spans[-1].closed_at = record.window.end
    if current is None:
        return
    if previous is None or current.id != previous.id:
        spans.append(
            IncidentSpan(
                current.id,
                current.opened_at,
                record.window,
                current.kind,
                current.headline,
                current.severity,
                current.actionable,
            )
        )
    else:
        span = spans[-1]
        span.windows += 1
        if current.severity == "critical":
            span.severity = "critical"
        if current.actionable and not span.paged:  # it became a page: named and headed as it was paged
            span.paged, span.kind, span.headline = True, current.kind, current.headline


def run_backtest(
    plan: WindowPlan,
    label: str,
    overrides: Mapping[str, Any],
    factories: Mapping[str, WindowJobFactory],
    store: InferenceStore,
    workdir: Path,
    *,
    model: str,
    rules: Rules,
    model_version: str | None = None,
    notifier: Notifier | None = None,
    progress: Progress | None = None,
    on_window: Callable[[WindowRecord], None] | None = None,
) -> BacktestRun:
    """Run every service's window job over ``plan`` and the incident tracker after each window (``rules``: the
    live notification rules of these settings)."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    setup = WindowJobSetup(store=store, workdir=workdir, overrides=dict(overrides), model_version=model_version)
    jobs: Sequence[WindowJob] = [factory(setup) for factory in factories.values()]
    policy = PolicyReplay(model, rules, notifier)
    result = BacktestRun(label, dict(overrides))
    previous: OpenIncident | None = None
    try:
        for window in plan.windows:
            outcomes = {job.service: job.run_window(window) for job in jobs}
            events = policy.observe(outcomes.values(), window.end)
            record = WindowRecord(window, outcomes, policy.open_incident(), events)
            _track(result.incidents, record, previous)
            previous = record.incident
            result.records.append(record)
            if on_window is not None:
                on_window(record)
            if progress is not None:
                progress.advance(1)
    finally:
        for job in jobs:
            job.close()
    if progress is not None:
        progress.finish()
    result.emails = policy.emails
    result.seconds = time.monotonic() - started
    return result
