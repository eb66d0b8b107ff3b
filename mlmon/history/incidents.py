"""The incident policy replayed over history: each window's runs go to the live incident tracker
(``mlmon.notify.tracker.IncidentTracker.report``, the jobs' own entry point) on the window's own clock (the
window's end is the tracker's ``now``), with the model's incident state kept in memory instead of the store.
Cooldowns, part expiry, the digest and the outbox behave as they would have live.

This module is the only place the backtest knows the tracker's API (kept small so it can follow it). Without a
notifier the emails are only counted ("would have sent"); with ``--notify`` they go out for real.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from mlmon.history.dry_store import MemoryIncidentState
from mlmon.history.outcome import WindowOutcome
from mlmon.notify.base import Notifier
from mlmon.notify.findings import Contribution, utc_from_timestamp
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.tracker import IncidentTracker


@dataclass(frozen=True)
class OpenIncident:
    """The model's incident after a window, as the tracker keeps it."""

    id: str
    opened_at: datetime
    kind: str
    headline: str
    severity: str
    actionable: bool = True  # False: context only (input shifts without a symptom), told in the digest


class _Counting:
    """Delivers through ``inner`` (``--notify``) or only counts; keeps every email the policy let out."""

    def __init__(self, inner: Notifier | None) -> None:
        self.inner = inner
        self.sent: list[Notice] = []

    def send(self, notice: Notice) -> bool:
        delivered = True if self.inner is None else self.inner.send(notice)
        if delivered:
            self.sent.append(notice)
        return delivered

    def record(self, model: str, outcome: str) -> None:
        if self.inner is not None:
            self.inner.record(model, outcome)


def replay_rules(rules: Rules) -> Rules:
    """The live rules with the outbox on: without SMTP the live tracker queues nothing, the backtest counts
    what would have gone out."""
    return replace(rules, notify=True)


class PolicyReplay:
    def __init__(self, model: str, rules: Rules, notifier: Notifier | None = None) -> None:
        self._notifier = _Counting(notifier)
        self._tracker = IncidentTracker(
            MemoryIncidentState(), model, replay_rules(rules), self._notifier, owner="backtest", sleep=lambda _: None
        )

    @property
    def emails(self) -> int:
        return len(self._notifier.sent)

    def observe(self, outcomes: Iterable[WindowOutcome], at: datetime) -> list[str]:
        """Apply one window's runs at ``at`` (the window's end); returns the emails that went out
        (``<event>:<incident id>``, e.g. ``opened:3f2a…``; ``digest:`` for a digest)."""
        before = len(self._notifier.sent)
        for outcome in outcomes:
            if isinstance(outcome.contribution, Contribution):  # None: too little data, no evidence either way
                self._tracker.report(outcome.contribution, now=at.timestamp())
        return [f"{n.event}:{n.incident_id}" for n in self._notifier.sent[before:]]

    def open_incident(self) -> OpenIncident | None:
        incident = self._tracker.read().incident
        if incident is None:
            return None
        kind = (incident.kind or {}).get("label") or (incident.kind or {}).get("code") or ""
        return OpenIncident(
            incident.id,
            utc_from_timestamp(incident.opened_at),
            str(kind),
            incident.first_line,
            incident.severity or "",
            incident.actionable,
        )
