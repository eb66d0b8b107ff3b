"""The incident policy replayed over history: each window's runs go through the live policy's public entry point,
on the window's own clock, so cooldowns and persistence behave as they would have.

This module is the only place the backtest knows the policy's API (kept small so it can follow it). With
``notifier`` None the emails are only counted ("would have sent"); with ``--notify`` they go out for real.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlmon.history.outcome import WindowOutcome
from mlmon.notify.base import Notifier
from mlmon.notify.findings import Incident, IncidentUpdate
from mlmon.notify.policy import IncidentPolicy, state_path


@dataclass
class OpenIncident:
    """What the recipients would have been told about an incident open after a window."""

    id: str
    kind: str
    headline: str
    severity: str


class _Counting:
    """A notifier that delivers nothing and says it did (the backtest's default: emails are counted)."""

    def __init__(self, inner: Notifier | None) -> None:
        self.inner = inner
        self.sent: list[IncidentUpdate] = []

    def notify(self, update: IncidentUpdate) -> bool:
        delivered = True if self.inner is None else self.inner.notify(update)
        if delivered and not update.suppressed:
            self.sent.append(update)
        return delivered


class PolicyReplay:
    def __init__(self, workdir: Path, cooldown_s: float, notifier: Notifier | None = None) -> None:
        self._now = 0.0
        self._notifier = _Counting(notifier)
        self._policies = {
            job: IncidentPolicy(state_path(workdir, f"backtest-{job}"), cooldown_s, clock=lambda: self._now)
            for job in ("stats", "drift")
        }
        self._open: dict[str, OpenIncident] = {}
        self._model_id: str | None = None

    @property
    def emails(self) -> int:
        return len(self._notifier.sent)

    def observe(self, outcomes: Iterable[WindowOutcome], at: datetime) -> list[str]:
        """Apply one window's runs at ``at`` (the window's end); returns what happened, for the report."""
        self._now = at.timestamp()
        before = len(self._notifier.sent)
        for outcome in outcomes:
            incident = outcome.contribution
            if not isinstance(incident, Incident) or incident.job not in self._policies:
                continue  # too little data: no evidence either way, the incident stays as it was
            self._policies[incident.job].process(incident, self._notifier)
            self._update(incident)
        return [f"{u.kind}:{u.incident_id}" for u in self._notifier.sent[before:]]

    def _update(self, incident: Incident) -> None:
        state = self._policies[incident.job].open_incident(incident.model)
        if state is None:
            self._open.pop(incident.job, None)
            return
        findings = incident.ordered_findings
        headline = (
            findings[0].title if findings else self._open.get(incident.job, OpenIncident("", "", "", "")).headline
        )
        kind = findings[0].role if findings else ""
        self._open[incident.job] = OpenIncident(
            str(state.get("incident_id")), kind, headline, str(state["actual"].get("severity") or "")
        )

    def open_incident(self) -> OpenIncident | None:
        """The model's open incident after the last window: open while a service's is, named after the first
        one that opened it, headed by the most severe."""
        if not self._open:
            self._model_id = None
            return None
        ranked = sorted(self._open.values(), key=lambda o: (o.severity != "critical", o.id))
        if self._model_id is None:
            self._model_id = ranked[0].id
        head = ranked[0]
        return OpenIncident(self._model_id, head.kind, head.headline, head.severity)
