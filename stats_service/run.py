"""One statistics run's result and the ways it is told: the report document, the stored record, a summary line.

Kept apart from the job so that the collector and the summary read runs without importing the job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlmon.notify.findings import Finding
from mlmon.notify.summary import summarize
from mlmon.store.base import ReportRecord, RetentionResult, TimeWindow
from stats_service.evaluation import EvalResult
from stats_service.slo import SLOResult
from stats_service.traffic import TrafficResult


@dataclass
class WindowReport:
    name: str  # "1h"
    window: TimeWindow
    rows: int
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    responses: dict[str, float] = field(default_factory=dict)
    eval_window: TimeWindow | None = None
    evaluation: list[EvalResult] = field(default_factory=list)
    current_evaluation: list[EvalResult] = field(default_factory=list)  # immature, coverage only
    traffic: TrafficResult | None = None
    label_shares: dict[str, float] = field(default_factory=dict)  # observed class shares, serving version, mature
    labelled: int = 0  # usable labels behind label_shares


@dataclass
class StatsRun:
    model: str
    version: str
    at: datetime
    windows: list[WindowReport] = field(default_factory=list)
    slos: list[SLOResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retention: RetentionResult | None = None  # None: not due in this run, or it failed (see notes)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def report_document(run: StatsRun) -> dict[str, Any]:
    windows = []
    for report in run.windows:
        windows.append(
            {
                "name": report.name,
                "start": report.window.start.isoformat(),
                "end": report.window.end.isoformat(),
                "rows": report.rows,
                "features": report.features,
                "responses": report.responses,
                "evaluation_window": (
                    {"start": report.eval_window.start.isoformat(), "end": report.eval_window.end.isoformat()}
                    if report.eval_window
                    else None
                ),
                "evaluation": [vars(r) | {"coverage": r.coverage} for r in report.evaluation],
                "current_window_labels": [
                    {
                        "model_version": r.model_version,
                        "segment": r.segment,
                        "status": r.status,
                        "predictions": r.predictions,
                        "labelled": r.labelled,
                        "coverage": r.coverage,
                    }
                    for r in report.current_evaluation
                ],
                "traffic": vars(report.traffic) if report.traffic else None,
            }
        )
    document: dict[str, Any] = _clean(
        {
            "@timestamp": run.at.isoformat(),
            "kind": "stats",
            "model": {"name": run.model, "version": run.version},
            "summary": summary_line(run),
            "windows": windows,
            "slos": [
                {
                    "slo": r.name,
                    "metric": r.slo.metric,
                    "value": r.value,
                    "breached": r.breached,
                    "severity": r.slo.severity,
                    "source": r.source,
                }
                for r in run.slos
            ],
            "findings": [
                {"signal": f.signal, "name": f.name, "severity": f.severity, "title": f.title} for f in run.findings
            ],
            "incident_summary": summarize(run.findings).to_document() if run.findings else None,
            "notes": run.notes,
            "retention": None
            if run.retention is None
            else {
                "cutoff": run.retention.cutoff.isoformat() if run.retention.cutoff else None,
                "events_deleted": run.retention.events_deleted,
                "indices_deleted": list(run.retention.indices_deleted),
            },
        }
    )
    return document


def to_record(run: StatsRun) -> ReportRecord:
    """The run as the store keeps it: the report document and its indexed summary."""
    breached = [r.name for r in run.slos if r.breached]
    return ReportRecord(
        kind="stats",
        timestamp=run.at,
        body=report_document(run),
        model_version=run.version,
        status="slo_breached" if breached else "ok",
        summary=summary_line(run),
        findings=[f.name for f in run.findings],
    )


def summary_line(run: StatsRun) -> str:
    rows = ", ".join(f"{w.name}: {w.rows} predictions" for w in run.windows)
    breached = [r.name for r in run.slos if r.breached]
    state = f"SLO breached: {'; '.join(breached)}" if breached else "all measured SLOs hold"
    return f"{run.model} {run.version}: {rows}; {state}; {len(run.findings)} finding(s)"
