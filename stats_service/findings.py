"""A statistics run told as findings, the statistics service's contribution to the model's incident.

- a breached SLO → a symptom, by metric: ``evaluation`` (accuracy, precision, recall, f1, roc_auc, mae, rmse,
  mape), ``latency`` (p95_latency_ms), ``errors`` (error_ratio), ``responses`` (empty_share, fallback_share),
  ``output`` (positive_rate: the predicted class share), ``coverage`` (label_coverage). Titles read
  "mae 27.37, SLO ≤ 20".
- a worse model version → ``version``: an evaluation SLO breached by the serving version while it held for the
  previous version — on the same mature window when both versions are in it (the service evaluates per
  version), else the previous version's last evaluation within ``VERSION_LOOKBACK_S``.
- the observed class shares of the labels moved from what the reference predicted → ``labels`` (context; with
  moved predictions it names a prior/label shift): a binary model's observed positive share against the mean
  reference score (its expected positive rate), by at least ``LABEL_SHIFT`` (absolute) with ``min_labels``.
- the prediction volume changed against the same window a day/week earlier → ``traffic``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlmon.baseline.profile import BaselineProfile
from mlmon.notify.findings import SHARE, Finding, Signal, format_number
from mlmon.spec import SLO, ModelSpec
from stats_service.evaluation import ALL, EvalResult
from stats_service.run import StatsRun

SLO_SIGNALS: dict[str, Signal] = {
    **dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "mape"), "evaluation"),
    "p95_latency_ms": "latency",
    "error_ratio": "errors",
    "empty_share": "responses",
    "fallback_share": "responses",
    "positive_rate": "output",
    "label_coverage": "coverage",
}
OPS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}
VERSION_LOOKBACK_S = 7 * 86400.0
LABEL_SHIFT = 0.1


def slo_text(slo: SLO) -> str:
    return f"SLO {OPS[slo.op]} {slo.threshold:g}"


def _value(value: float) -> str:
    return format_number(value)


@dataclass
class VersionEvaluation:
    """A version's overall metrics in one mature window."""

    version: str
    at: float
    metrics: dict[str, float]
    same_window: bool = False


def slo_findings(run: StatsRun) -> list[Finding]:
    findings = []
    for result in run.slos:
        if not result.breached or result.value is None:
            continue
        slo = result.slo
        findings.append(
            Finding(
                signal=SLO_SIGNALS.get(slo.metric, "evaluation"),
                name=slo.metric,
                severity=slo.severity,
                title=f"{slo.metric} {_value(result.value)}, {slo_text(slo)}",
                detail=f"measured from {result.source}" + (f"; {slo.description}" if slo.description else ""),
                statistic=abs(result.value - slo.threshold) + abs(slo.threshold),
                threshold=abs(slo.threshold) or 1.0,
                model_version=run.version,
            )
        )
    return findings


def version_findings(run: StatsRun, previous: dict[str, VersionEvaluation], now: float) -> list[Finding]:
    """``version`` findings for evaluation SLOs the serving version breaches and an earlier version held."""
    findings = []
    for result in run.slos:
        slo = result.slo
        if not result.breached or result.value is None or SLO_SIGNALS.get(slo.metric) != "evaluation":
            continue
        held = [
            e
            for e in previous.values()
            if e.version != run.version
            and now - e.at <= VERSION_LOOKBACK_S
            and slo.metric in e.metrics
            and slo.holds(e.metrics[slo.metric])
        ]
        if not held:
            continue
        best = max(held, key=lambda e: (e.same_window, e.at))
        where = "on the same window" if best.same_window else "in its last evaluation"
        findings.append(
            Finding(
                signal="version",
                name=slo.metric,
                severity=slo.severity,
                title=(
                    f"version {run.version} {slo.metric} {_value(result.value)} where version {best.version} had "
                    f"{_value(best.metrics[slo.metric])} {where} ({slo_text(slo)})"
                ),
                before=best.metrics[slo.metric],
                after=result.value,
                what=slo.metric,
                model_version=run.version,
            )
        )
    return findings


def evaluations(run: StatsRun) -> list[VersionEvaluation]:
    """The overall metrics of every version in the first window's mature evaluation."""
    if not run.windows:
        return []
    results: list[EvalResult] = [
        r for r in run.windows[0].evaluation if r.segment == ALL and r.status == "ok" and r.model_version
    ]
    both = len(results) > 1
    return [VersionEvaluation(str(r.model_version), run.at.timestamp(), dict(r.metrics), both) for r in results]


def label_findings(spec: ModelSpec, profile: BaselineProfile, run: StatsRun, min_labels: int) -> list[Finding]:
    """Observed positive share of a binary model against its reference's expected positive rate."""
    if not run.windows or not spec.prediction.binary or spec.prediction.positive is None:
        return []
    shares = run.windows[0].label_shares
    labelled = run.windows[0].labelled
    positive = spec.prediction.positive
    expected = profile.prediction.mean
    if labelled < min_labels or positive not in shares or not math.isfinite(expected):
        return []
    observed = shares[positive]
    if abs(observed - expected) < LABEL_SHIFT:
        return []
    return [
        Finding(
            signal="labels",
            name=f"label_share:{positive}",
            severity="warning",
            title=f"observed share of {positive!r} {expected:.0%} → {observed:.0%} ({labelled} labels)",
            before=expected,
            after=observed,
            unit=SHARE,
            what=f"share of {positive!r}",
            detail="expected: the mean reference score (the reference's predicted positive rate)",
        )
    ]


def traffic_findings(run: StatsRun, threshold: float) -> list[Finding]:
    findings = []
    for report in run.windows:
        traffic = report.traffic
        if traffic is None:
            continue
        for offset, ratio in traffic.change_ratio.items():
            if ratio is None or abs(ratio) <= threshold:
                continue
            before = traffic.previous_volume.get(offset)
            findings.append(
                Finding(
                    signal="traffic",
                    name=f"traffic_{report.name}_vs_{offset}",
                    severity="warning",
                    title=(
                        f"predictions over {report.name}: {format_number(traffic.volume)} against "
                        f"{format_number(before)} {offset} earlier ({ratio:+.0%})"
                    ),
                    before=before,
                    after=traffic.volume,
                    what="predictions",
                    statistic=abs(ratio),
                    threshold=threshold,
                )
            )
    return findings
