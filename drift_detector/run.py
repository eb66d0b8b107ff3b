"""One drift run's result, and the ways it is told: a report document, a summary, and (``drift_detector.findings``)
findings and measured shifts for the incident."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from drift_detector.findings import to_finding, to_shifts
from drift_detector.integrity import Break
from mlmon.notify.findings import Finding, Shift
from mlmon.notify.summary import Summary, summarize
from mlmon.stats.decision import Decision
from mlmon.stats.engine import FeatureComparison
from mlmon.store.base import ReportRecord, TimeWindow

RunStatus = Literal["ok", "insufficient_data"]


@dataclass
class DriftRun:
    model: str
    version: str
    window: TimeWindow
    rows: int  # rows of ``version`` only: the window is filtered to the serving model version
    status: RunStatus
    other_version_rows: int = 0  # rows of other versions in the window, left out (a deploy inside it)
    checks: list[FeatureComparison] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    prometheus_check: FeatureComparison | None = None
    notes: list[str] = field(default_factory=list)
    path: str = "binned"  # "exact" (raw values) or "binned" (counts on the baseline's bins)
    source: str = "store"  # where the window's numbers came from: "store" or "prometheus" (serve-time counts)
    report_path: str | None = None
    example_ids: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    breaks: dict[str, Break] = field(default_factory=dict)  # check key -> data-integrity break
    importance: dict[str, float] = field(default_factory=dict)  # feature -> importance share (registration)
    units: dict[str, str] = field(default_factory=dict)

    def decision_for(self, check: FeatureComparison) -> Decision | None:
        for decision in self.decisions:
            if decision.feature == check.feature and decision.role == check.role:
                return decision
        return None

    @property
    def drifted(self) -> list[tuple[FeatureComparison, Decision]]:
        pairs = [(c, self.decision_for(c)) for c in self.checks]
        return [(c, d) for c, d in pairs if d is not None and d.drifted]

    @property
    def findings(self) -> list[Finding]:
        return [
            to_finding(c, d, self.units.get(c.feature, ""), self.importance.get(c.feature), self.breaks.get(c.key))
            for c, d in self.drifted
        ]

    @property
    def shifts(self) -> list[Shift]:
        decisions = {d.key: d for d in self.decisions}
        return to_shifts(self.checks, decisions, self.units, self.importance)

    @property
    def output_measured(self) -> bool:
        return any(c.role == "output" and c.effect is not None for c in self.checks)

    def summary(self) -> Summary:
        """This run alone, in the structure of every incident email (``mlmon.notify.summary``)."""
        return summarize(
            self.findings,
            self.shifts,
            importance_source="permutation" if self.importance else "",
            output_measured=self.output_measured,
        )


_SOURCES = {"store": "the store", "prometheus": "Prometheus (serve-time counts)"}


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def check_row(check: FeatureComparison, decision: Decision | None) -> dict[str, Any]:
    effect, sig = check.effect, check.significance
    return {
        "feature": check.feature,
        "role": check.role,
        "kind": check.kind,
        "method": effect.test if effect else None,
        "statistic": effect.statistic if effect else None,
        "threshold": effect.threshold if effect else None,
        "threshold_source": effect.threshold_source if effect else None,
        "mde": effect.mde if effect else None,
        "significance_test": sig.test if sig else None,
        "p_value": sig.p_value if sig else None,
        "p_adjusted": decision.p_adjusted if decision else None,
        "n_ref": check.n_ref,
        "n_cur": check.n_cur,
        "status": decision.status if decision else "not_tested",
        "streak": decision.streak if decision else 0,
        "immediate": decision.immediate if decision else False,
        "reason": decision.reason if decision else "",
        "findings": list(check.findings),
        "summary": {k: v for k, v in check.summary.items() if v is None or math.isfinite(v)},
    }


def report_document(run: DriftRun) -> dict[str, Any]:
    drifted = [c.feature for c, _ in run.drifted]
    return {
        "@timestamp": (run.finished_at or run.window.end).isoformat(),
        "kind": "drift",
        "model": {"name": run.model, "version": run.version},
        "window": {"start": run.window.start.isoformat(), "end": run.window.end.isoformat()},
        "rows": run.rows,
        "model_version_filter": run.version,
        "other_version_rows": run.other_version_rows,
        "status": run.status,
        "path": run.path,
        "source": run.source,
        "drift_detected": bool(drifted),
        "drifted_features": drifted,
        "summary": summary_line(run),
        "incident_summary": run.summary().to_document() if run.status == "ok" else None,
        "checks": [check_row(c, run.decision_for(c)) for c in run.checks],
        "prometheus": check_row(run.prometheus_check, None) if run.prometheus_check else None,
        "notes": list(run.notes),
        "report_path": run.report_path,
    }


def to_record(run: DriftRun) -> ReportRecord:
    """The run as the store keeps it: the report document and its indexed summary."""
    document = report_document(run)
    return ReportRecord(
        kind="drift",
        timestamp=run.finished_at or run.window.end,
        body=document,
        model_version=run.version,
        status=run.status,
        summary=document["summary"],
        drift_detected=document["drift_detected"],
        findings=document["drifted_features"],
    )


def summary_line(run: DriftRun) -> str:
    if run.status == "insufficient_data":
        return f"{run.model} {run.version}: insufficient data ({run.rows} rows in the window)"
    drifted = run.drifted
    if not drifted:
        return f"{run.model} {run.version}: no drift in {run.rows} rows ({len(run.checks)} checks)"
    names = ", ".join(f"{c.feature} ({c.role})" for c, _ in drifted)
    return f"{run.model} {run.version}: DRIFT in {names} over {run.rows} rows"


def summary_text(run: DriftRun) -> str:
    window = (
        f"window {run.window.start.isoformat()} .. {run.window.end.isoformat()}, {run.path} path, "
        f"counts from {_SOURCES.get(run.source, run.source)}, rows of version {run.version} only"
    )
    lines = [summary_line(run), window]
    if run.status == "ok" and run.drifted:
        lines += run.summary().lines()
    lines.append(
        f"{'feature':<28} {'role':<8} {'method':<13} {'stat':>8} {'thr':>7} {'(from)':<10} {'p_adj':>9} "
        f"{'n_ref':>7} {'n_cur':>7} status"
    )
    for check in run.checks:  # outputs first, then the largest effects
        decision = run.decision_for(check)
        effect = check.effect
        lines.append(
            f"{check.feature:<28} {check.role:<8} {(effect.test if effect else '-'):<13} "
            f"{_fmt(effect.statistic if effect else None, 3):>8} {_fmt(effect.threshold if effect else None, 3):>7} "
            f"{(effect.threshold_source if effect else '-'):<10} "
            f"{_fmt(decision.p_adjusted if decision else None, 3):>9} {check.n_ref:>7} {check.n_cur:>7} "
            f"{decision.status if decision else '-'}"
        )
    if run.prometheus_check is not None and run.prometheus_check.effect is not None:
        e = run.prometheus_check.effect
        lines.append(f"prometheus output histogram: {e.test} {e.statistic:.3f} (threshold {e.threshold:g})")
    lines += [f"note: {note}" for note in run.notes]
    if run.report_path:
        lines.append(f"HTML report: {run.report_path}")
    return "\n".join(lines)
