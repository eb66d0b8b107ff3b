"""What `mlmon stats --once` prints: the evaluation metrics against their SLOs (value and bound, so
"mae 27.37, SLO <= 20" reads unambiguously), the label coverage, traffic, findings and notes."""

from __future__ import annotations

from stats_service.evaluation import ALL
from stats_service.run import StatsRun, summary_line


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def summary_text(run: StatsRun) -> str:
    lines = [summary_line(run)]
    if run.slos:
        lines.append("SLOs (measured value, bound, source):")
        for result in run.slos:
            slo = result.slo
            state = "BREACHED" if result.breached else ("ok" if result.value is not None else "not measured")
            lines.append(
                f"  {slo.metric:<16} {_fmt(result.value):>10}  SLO {slo.op} {slo.threshold:g}  {state:<12} "
                f"({result.source})"
            )
    for window in run.windows:
        lines.append(f"window {window.name}: {window.rows} predictions")
        for evaluated in window.evaluation:
            if evaluated.segment != ALL:
                continue
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(evaluated.metrics.items()))
            lines.append(
                f"  evaluation of {evaluated.model_version}: {evaluated.status}, "
                f"{evaluated.labelled}/{evaluated.predictions} "
                f"labelled" + (f"; {metrics}" if metrics else "")
            )
        if window.traffic is not None and window.traffic.error is None:
            t = window.traffic
            lines.append(
                f"  traffic: {_fmt(t.volume)} predictions, {_fmt(t.request_rate)} req/s, error ratio "
                f"{_fmt(t.error_ratio)}, p95 {_fmt(t.p95_latency_ms)} ms"
            )
    lines += [f"finding: {f.title}" for f in run.findings]
    lines += [f"note: {note}" for note in run.notes]
    return "\n".join(lines)
