"""The backtest's JSON document: the range and settings, then per run (one per setting compared) the timeline
of windows (symptoms, causes, status, the open incident, emails), the incidents that would have opened, and the
summary tables (incidents per month and per kind of change). The HTML page (``report_html``) is drawn from it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mlmon.history.backtest import BacktestRun, IncidentSpan, WindowRecord
from mlmon.history.windows import WindowPlan


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def window_entry(record: WindowRecord) -> dict[str, Any]:
    symptoms = []
    causes: dict[str, Any] = {}
    status: dict[str, str] = {}
    findings: list[str] = []
    for service, outcome in record.outcomes.items():
        status[service] = outcome.status
        symptoms += [{"service": service, **m.to_dict()} for m in outcome.symptoms]
        causes.update({c.feature: c.to_dict() for c in outcome.causes})
        findings += outcome.findings
    return {
        "start": _iso(record.window.start),
        "end": _iso(record.window.end),
        "rows": record.rows,
        "status": status,
        "symptoms": symptoms,
        "causes": causes,
        "findings": findings,
        "incident": record.incident.id if record.incident else None,
        "emails": list(record.events),
    }


def incident_entry(span: IncidentSpan) -> dict[str, Any]:
    duration = span.duration
    return {
        "id": span.id,
        "opened_at": _iso(span.opened_at),
        "first_window": {"start": _iso(span.first_window.start), "end": _iso(span.first_window.end)},
        "kind": span.kind,
        "severity": span.severity,
        "headline": span.headline,
        "paged": span.paged,
        "windows": span.windows,
        "closed_at": _iso(span.closed_at) if span.closed_at else None,
        "duration_s": duration.total_seconds() if duration is not None else None,
    }


def run_entry(run: BacktestRun) -> dict[str, Any]:
    per_month: dict[str, Counter[str]] = {}
    for record in run.records:
        per_month.setdefault(record.window.start.strftime("%Y-%m"), Counter())
    for span in run.incidents:
        per_month.setdefault(span.opened_at.strftime("%Y-%m"), Counter())[span.kind or "unnamed"] += 1
    per_kind = Counter(span.kind or "unnamed" for span in run.incidents)
    return {
        "label": run.label,
        "settings": {k: _plain(v) for k, v in run.overrides.items()},
        "seconds": round(run.seconds, 3),
        "emails": run.emails,
        "incidents": [incident_entry(s) for s in run.incidents],
        "per_month": {m: {"incidents": sum(c.values()), "by_kind": dict(c)} for m, c in sorted(per_month.items())},
        "per_kind": dict(per_kind.most_common()),
        "timeline": [window_entry(r) for r in run.records],
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def backtest_document(
    model: str, model_version: str | None, plan: WindowPlan, runs: Sequence[BacktestRun], notes: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "kind": "backtest",
        "model": model,
        "model_version": model_version,
        "generated_at": _iso(datetime.now(UTC)),
        "range": {"start": _iso(plan.span.start), "end": _iso(plan.span.end)},
        "window": plan.name,
        "windows": len(plan.windows),
        "uncovered_s": plan.uncovered_s,
        "notes": list(notes),
        "runs": [run_entry(r) for r in runs],
    }


def summary_lines(document: dict[str, Any]) -> list[str]:
    """What the command prints: per run, the incidents that would have opened."""
    lines = [
        f"backtest of {document['model']}: {document['windows']} windows of {document['window']} from "
        f"{document['range']['start']} to {document['range']['end']}"
    ]
    for run in document["runs"]:
        settings = ", ".join(f"{k}={v}" for k, v in run["settings"].items()) or "the configured settings"
        incidents = run["incidents"]
        lines.append(
            f"[{run['label']}] {settings}: {len(incidents)} incident(s), {run['emails']} email(s) "
            f"({run['seconds']:.1f} s)"
        )
        for item in incidents:
            lasted = (
                f"open {item['windows']} window(s) until {item['closed_at']}"
                if item["closed_at"]
                else f"still open after {item['windows']} window(s)"
            )
            context = "" if item["paged"] else " (context only: told in the digest, no page)"
            lines.append(
                f"  {item['opened_at']} {item['severity'] or '-'} {item['kind'] or '-'}: {item['headline']}{context}"
            )
            lines.append(f"    {lasted}")
    lines += [f"note: {note}" for note in document["notes"]]
    return lines
