"""What a monitoring job hands to the incident tracker: the findings of one run and the inputs it measured.

A :class:`Finding` is one thing that changed, with its *signal*:

    symptoms (what users feel)    evaluation (an evaluation-metric SLO), version (a new model version worse than the
                                  previous one), responses (empty/fallback share, answers without a score), output
                                  (the prediction distribution), latency, errors, traffic, coverage (labels)
    data-integrity breaks         integrity (an input broke: unit change, fill-rate collapse, new category, stuck
                                  value, values out of the training range)
    context                       input (a distribution shift of valid inputs), labels (observed class shares moved)

A :class:`Shift` is one input's measured change in the window, decided or not, so that an email can show the top
input shifts with before → after numbers even when none passed its threshold. A :class:`Contribution` is one
service's run for one model; the tracker merges the contributions of both services into one incident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Signal = Literal[
    "evaluation",
    "version",
    "responses",
    "output",
    "latency",
    "errors",
    "traffic",
    "coverage",
    "integrity",
    "input",
    "labels",
]
Severity = Literal["warning", "critical"]
Tier = Literal["symptom", "integrity", "context"]

# Symptoms in the order a person should read them when their severity is equal.
SYMPTOMS: tuple[Signal, ...] = (
    "evaluation",
    "version",
    "responses",
    "output",
    "latency",
    "errors",
    "traffic",
    "coverage",
)
SIGNALS: tuple[Signal, ...] = (*SYMPTOMS, "integrity", "input", "labels")
_SEVERITY_RANK = {"warning": 1, "critical": 2}
DEFAULT_RUNBOOK = (
    "Start with the symptom; the likely causes below it are ranked by effect × importance. "
    "Open the Kibana link to see the logged requests of the window."
)


@dataclass(frozen=True)
class ChartData:
    """Bin labels with baseline and current shares (each a fraction of its window), for the inline chart."""

    labels: tuple[str, ...]
    baseline: tuple[float, ...]
    current: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "baseline", tuple(float(x) for x in self.baseline))
        object.__setattr__(self, "current", tuple(float(x) for x in self.current))
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


SHARE = "share"  # the unit of a fraction shown as a percentage (a fill rate, a category's share)


def format_number(value: float | None, unit: str = "") -> str:
    """A number as an email shows it: ``n/a``, 4 significant digits, thousands separators, then the unit; a
    fraction with the unit :data:`SHARE` as a percentage (0.2 → "20%"). A spec unit "%" is printed as it is."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    if unit == SHARE:
        return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"
    if abs(value) >= 1e12:
        text = f"{value:.3e}"
    elif abs(value) >= 1e4:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".rstrip()


def _effect(statistic: float | None, threshold: float | None) -> float:
    if statistic is None or threshold is None or threshold <= 0 or not math.isfinite(statistic):
        return 0.0
    return statistic / threshold


@dataclass(frozen=True)
class Finding:
    """One change found by a job run (see the module docstring for the signals).

    ``title`` is the whole statement with unambiguous numbers ("mae 27.37, SLO ≤ 20"; "humidity: fill rate 98% →
    40%"). ``before``/``after`` (with ``what`` they measure and ``unit``) are shown as "before → after" only when
    both exist; a symptom measured against a bound has no ``before``. ``statistic``/``threshold`` give the
    effect (statistic / threshold, ≥ 1 passes); ``importance`` is the feature's share of the model's sensitivity
    (None: unknown). ``aspect`` separates two findings of one name (``fill`` for a feature's fill rate).
    """

    signal: Signal
    name: str
    severity: Severity
    title: str
    before: float | None = None
    after: float | None = None
    unit: str = ""
    what: str = ""
    detail: str = ""
    statistic: float | None = None
    threshold: float | None = None
    test: str = ""
    importance: float | None = None
    integrity: str = ""  # data-integrity fingerprint: unit_change, fill_rate, new_category, stuck, out_of_range
    fingerprint: str = ""  # its words: "values ≈1000× the training values — a unit change?"
    aspect: str = ""
    model_version: str = ""
    chart: ChartData | None = None

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"finding.signal: {self.signal!r} is not one of {', '.join(SIGNALS)}")
        if self.severity not in _SEVERITY_RANK:
            raise ValueError(f"finding.severity: {self.severity!r} is not one of warning, critical")
        if not self.name:
            raise ValueError("finding.name: must not be empty")
        if (self.signal == "integrity") != bool(self.integrity):
            raise ValueError("finding.integrity: set exactly for integrity findings (a fingerprint code)")

    @property
    def key(self) -> str:
        """Identity within an incident: a break's fingerprint code is part of it (a break that turns out to be a
        unit change, not just values out of range, is news)."""
        parts = [self.signal, self.name, *(p for p in (self.aspect, self.integrity) if p)]
        return ":".join(parts)

    @property
    def tier(self) -> Tier:
        if self.signal in SYMPTOMS:
            return "symptom"
        return "integrity" if self.signal == "integrity" else "context"

    @property
    def is_input(self) -> bool:
        return self.signal in ("integrity", "input")

    @property
    def effect(self) -> float:
        return _effect(self.statistic, self.threshold)

    @property
    def change_text(self) -> str:
        """``mean 1.6e7 s → 1.6e10 s``; empty when the finding has no before → after."""
        if self.before is None or self.after is None:
            return ""
        what = f"{self.what} " if self.what else ""
        return f"{what}{format_number(self.before, self.unit)} → {format_number(self.after, self.unit)}"

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        values = {k: v for k, v in data.items() if k in _FINDING_FIELDS}
        chart = values.get("chart")
        values["chart"] = ChartData(**chart) if isinstance(chart, Mapping) else None
        return cls(**values)


@dataclass(frozen=True)
class Shift:
    """One input's measured change in a window, whether or not it passed its threshold (``decided``)."""

    feature: str
    what: str
    before: float | None
    after: float | None
    unit: str = ""
    statistic: float | None = None
    threshold: float | None = None
    test: str = ""
    importance: float | None = None
    decided: bool = False

    @property
    def effect(self) -> float:
        return _effect(self.statistic, self.threshold)

    @property
    def change_text(self) -> str:
        if self.before is None or self.after is None:
            return self.what
        what = f"{self.what} " if self.what else ""
        return f"{what}{format_number(self.before, self.unit)} → {format_number(self.after, self.unit)}"

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shift:
        return cls(**{k: v for k, v in data.items() if k in _SHIFT_FIELDS})


_FINDING_FIELDS = set(Finding.__dataclass_fields__)
_SHIFT_FIELDS = set(Shift.__dataclass_fields__)


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: non-finite floats become None (a state document must stay valid JSON)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        elif isinstance(value, dict):
            out[key] = _finite(value)
        elif isinstance(value, (list, tuple)):
            out[key] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in value]
        else:
            out[key] = value
    return out


def max_severity(findings: Sequence[Finding]) -> Severity | None:
    worst: Severity | None = None
    for finding in findings:
        if worst is None or _SEVERITY_RANK[finding.severity] > _SEVERITY_RANK[worst]:
            worst = finding.severity
    return worst


def severity_rank(severity: str | None) -> int:
    return _SEVERITY_RANK.get(severity or "", 0)


@dataclass(frozen=True)
class Contribution:
    """One service's run for one model: what it found and what it measured (no findings = healthy for it).

    ``shifts`` are the window's measured input shifts (the drift detector); ``importance_source`` says where the
    findings' importance comes from (``"permutation"``, or empty: equal weights); ``output_measured`` says whether
    the run measured the output distribution (so "the scores are stable" is known, not assumed).
    ``interval_s`` is how often the service runs: its contribution counts for three intervals (at least 15
    minutes), so a service that stopped cannot hold an incident open for ever.
    """

    service: str
    model: str
    model_version: str
    window_start: datetime
    window_end: datetime
    findings: tuple[Finding, ...] = ()
    shifts: tuple[Shift, ...] = ()
    importance_source: str = ""
    output_measured: bool = False
    prediction_ids: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    runbook: str = ""
    report_path: str | None = None
    interval_s: float = 300.0
    at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.service or not self.model:
            raise ValueError("contribution: service and model must not be empty")
        for name, value in (("window_start", self.window_start), ("window_end", self.window_end)):
            if value.tzinfo is None:
                raise ValueError(f"contribution.{name}: needs a timezone-aware datetime")
        if self.window_end < self.window_start:
            raise ValueError("contribution.window_end: before window_start")
        object.__setattr__(self, "findings", tuple(self.findings))
        object.__setattr__(self, "shifts", tuple(self.shifts))
        object.__setattr__(self, "prediction_ids", tuple(str(p) for p in self.prediction_ids))
        object.__setattr__(self, "links", dict(self.links))

    @property
    def time(self) -> datetime:
        return self.at or self.window_end


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
