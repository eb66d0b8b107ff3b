"""What a monitoring job hands to the notifier: findings of one run, grouped per model into an incident.

A :class:`Finding` is one thing that changed (an output distribution, a breached SLO, an empty-response share,
traffic, an input feature). An :class:`Incident` is everything one run found for one model. The incident
policy (``mlmon.notify.policy``) turns successive incidents into :class:`IncidentUpdate` s: opened, severity
changed, resolved — the only moments a person gets an email.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Role = Literal["output", "slo", "quality", "traffic", "input"]
Severity = Literal["warning", "critical"]
UpdateKind = Literal["opened", "severity_changed", "findings_added", "resolved"]

ROLES: tuple[Role, ...] = ("output", "slo", "quality", "traffic", "input")
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
# Symptoms first (what users feel), then likely causes: the order a person should read them in.
_ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
_SEVERITY_RANK = {"warning": 1, "critical": 2}
DEFAULT_RUNBOOK = (
    "Check the output findings first; the input features listed after them are the likely causes. "
    "Open the Kibana link to see the logged requests of the window."
)


@dataclass(frozen=True)
class ChartData:
    """Bin labels with baseline and current shares (each a fraction of its window), for the inline chart."""

    labels: tuple[str, ...]
    baseline: tuple[float, ...]
    current: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.labels)
        if n == 0:
            raise ValueError("chart: at least one bin is needed")
        if len(self.baseline) != n or len(self.current) != n:
            raise ValueError(
                f"chart: {n} labels but {len(self.baseline)} baseline and {len(self.current)} current shares"
            )
        for name, values in (("baseline", self.baseline), ("current", self.current)):
            if any(not math.isfinite(v) or v < 0 for v in values):
                raise ValueError(f"chart: {name} shares must be finite and >= 0")


@dataclass(frozen=True)
class Finding:
    """One change found by a job run.

    ``name`` is the feature or metric (``prediction``, ``precision``, ``temperature``); ``effect`` ranks findings of
    the same role (drift score, relative change — bigger means more important).
    """

    role: Role
    name: str
    severity: Severity
    title: str
    before: float | None = None
    after: float | None = None
    unit: str = ""
    detail: str = ""
    effect: float = 0.0
    chart: ChartData | None = None

    def __post_init__(self) -> None:
        if self.role not in _ROLE_RANK:
            raise ValueError(f"finding.role: {self.role!r} is not one of {', '.join(ROLES)}")
        if self.severity not in _SEVERITY_RANK:
            raise ValueError(f"finding.severity: {self.severity!r} is not one of warning, critical")
        if not self.name:
            raise ValueError("finding.name: must not be empty")

    @property
    def key(self) -> str:
        return f"{self.role}:{self.name}"

    def format_value(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "n/a" if value is None else str(value)
        if abs(value) >= 1e12:
            text = f"{value:.3e}"
        elif abs(value) >= 1e4:
            text = f"{value:,.0f}"
        else:
            text = f"{value:.4g}"
        if self.unit == "%":
            return f"{text}%"
        return f"{text} {self.unit}".rstrip()

    @property
    def before_text(self) -> str:
        return self.format_value(self.before)

    @property
    def after_text(self) -> str:
        return self.format_value(self.after)


def max_severity(findings: Iterable[Finding]) -> Severity | None:
    worst: Severity | None = None
    for finding in findings:
        if worst is None or _SEVERITY_RANK[finding.severity] > _SEVERITY_RANK[worst]:
            worst = finding.severity
    return worst


def severity_rank(severity: str | None) -> int:
    return _SEVERITY_RANK.get(severity or "", 0)


def symptom_order(findings: Iterable[Finding]) -> list[Finding]:
    """Outputs and SLOs first, then quality and traffic, then input features as likely causes.

    Within a role: critical before warning, then the larger effect first; the name breaks ties so the order
    is stable across runs.
    """
    return sorted(
        findings,
        key=lambda f: (_ROLE_RANK[f.role], -_SEVERITY_RANK[f.severity], -abs(f.effect), f.name),
    )


@dataclass(frozen=True)
class Incident:
    """Everything one job run found for one model (no findings = the model looks healthy)."""

    model: str
    model_version: str
    window_start: datetime
    window_end: datetime
    findings: tuple[Finding, ...] = ()
    prediction_ids: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    runbook: str = DEFAULT_RUNBOOK
    report_path: str | None = None
    report_url: str | None = None
    job: str = "drift"

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("incident.model: must not be empty")
        for name, value in (("window_start", self.window_start), ("window_end", self.window_end)):
            if value.tzinfo is None:
                raise ValueError(f"incident.{name}: needs a timezone-aware datetime")
        if self.window_end < self.window_start:
            raise ValueError("incident.window_end: before window_start")
        # Accept lists from callers but keep the dataclass hashable and immutable.
        object.__setattr__(self, "findings", tuple(self.findings))
        object.__setattr__(self, "prediction_ids", tuple(self.prediction_ids))

    @property
    def severity(self) -> Severity | None:
        return max_severity(self.findings)

    @property
    def ordered_findings(self) -> list[Finding]:
        return symptom_order(self.findings)


def group_by_model(
    findings: Iterable[tuple[str, Finding]],
) -> dict[str, list[Finding]]:
    """``(model, finding)`` pairs → findings per model, for jobs that check several models in one run."""
    grouped: dict[str, list[Finding]] = {}
    for model, finding in findings:
        grouped.setdefault(model, []).append(finding)
    return grouped


@dataclass(frozen=True)
class IncidentUpdate:
    """A moment worth an email: an incident opened, changed severity, gained findings, or resolved.

    ``suppressed`` marks a change that the cooldown holds back: the notifier counts it and sends nothing.
    ``resolved_titles`` lists what was open before a resolve (the resolving run has no findings).
    ``new_findings`` lists the keys (``role:name``) that joined an open incident since the last email.
    """

    kind: UpdateKind
    incident: Incident
    incident_id: str
    opened_at: datetime
    severity: Severity | None
    previous_severity: Severity | None = None
    resolved_titles: Sequence[str] = ()
    suppressed: bool = False
    new_findings: Sequence[str] = ()

    @property
    def model(self) -> str:
        return self.incident.model

    @property
    def effective_severity(self) -> Severity:
        """Severity for routing and the subject: a resolve keeps the severity it had while open."""
        return self.severity or self.previous_severity or "warning"

    @property
    def message_key(self) -> str:
        """Stable per update, so that a duplicate delivery carries the same Message-ID."""
        added = "+".join(sorted(self.new_findings))
        return f"{self.incident_id}.{self.kind}.{self.severity or 'none'}" + (f".{added}" if added else "")


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
