"""A drift run told as findings and measured shifts, the drift detector's contribution to the model's incident.

- the output distribution (score or predicted class shares) → an ``output`` symptom (critical);
- the output's missing share (answers without a score: empty or non-finite) → a ``responses`` symptom;
- an input check that shows a data-integrity break (``drift_detector.integrity``) → an ``integrity`` finding;
- any other decided input check → an ``input`` finding (context unless a symptom comes with it);
- every measured input check, decided or not → a :class:`Shift` with before → after numbers, so an incident
  whose evaluation metric breached still shows what the inputs did.
"""

from __future__ import annotations

import math
from dataclasses import replace

from drift_detector.integrity import Break
from mlmon.notify.findings import SHARE, ChartData, Finding, Shift
from mlmon.stats.baseline import PREDICTED_CLASS, PREDICTION
from mlmon.stats.decision import Decision
from mlmon.stats.engine import FeatureComparison

OUTPUTS = (PREDICTION, PREDICTED_CLASS)
MAX_SHIFTS = 10


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def measured(check: FeatureComparison, unit: str = "") -> tuple[float | None, float | None, str, str]:
    """What a person reads as before → after for a check: (before, after, what, unit)."""
    summary = check.summary
    if check.role == "quality":
        ref, cur = summary.get("ref_missing_share"), summary.get("cur_missing_share")
        return (
            None if ref is None else 1.0 - ref,
            None if cur is None else 1.0 - cur,
            "fill rate",
            SHARE,
        )
    if check.kind == "numeric" and "ref_mean" in summary:
        return _num(summary.get("ref_mean")), _num(summary.get("cur_mean")), "mean", unit
    if check.labels and check.ref_shares and len(check.cur_shares) == len(check.ref_shares):
        moves = [abs(c - r) for r, c in zip(check.ref_shares, check.cur_shares, strict=True)]
        i = max(range(len(moves)), key=moves.__getitem__)
        label = "unseen categories" if check.labels[i] == "__other__" else repr(check.labels[i])
        return check.ref_shares[i], check.cur_shares[i], f"share of {label}", SHARE
    return None, None, "", unit


def _chart(check: FeatureComparison) -> ChartData | None:
    if check.labels and len(check.labels) == len(check.ref_shares) == len(check.cur_shares):
        return ChartData(tuple(check.labels), tuple(check.ref_shares), tuple(check.cur_shares))
    return None


def _detail(check: FeatureComparison, decision: Decision) -> str:
    parts = [*check.findings]
    if decision.immediate:
        parts.append("decided in the first window (gross change)")
    return "; ".join(parts)


def to_finding(
    check: FeatureComparison,
    decision: Decision,
    unit: str = "",
    importance: float | None = None,
    brk: Break | None = None,
) -> Finding:
    """One decided check as a finding (see the module docstring for the mapping)."""
    assert check.effect is not None
    effect = check.effect
    before, after, what, shown_unit = measured(check, unit)
    change = Shift(check.feature, what, before, after, shown_unit).change_text if after is not None else ""
    test = f"{effect.test} {effect.statistic:.3g}, threshold {effect.threshold:.3g}"
    base = Finding(
        "input",
        check.feature,
        "warning",
        f"{check.feature}: {change or 'distribution moved'} ({test})",
        before=before,
        after=after,
        unit=shown_unit,
        what=what,
        detail=_detail(check, decision),
        statistic=float(effect.statistic),
        threshold=float(effect.threshold),
        test=effect.test,
        importance=importance,
        aspect="fill" if check.role == "quality" else "",
        chart=_chart(check),
    )
    if check.feature in OUTPUTS:
        if check.role == "quality":
            missing = f"{1 - (before or 0):.0%} → {1 - (after or 0):.0%}"
            title = f"answers without a score: {missing} (empty or non-finite)"
            return replace(
                base, signal="responses", severity="critical", title=title, importance=None, aspect="missing"
            )
        name = "prediction distribution" if check.feature == PREDICTION else "predicted class shares"
        return replace(
            base, signal="output", severity="critical", title=f"{name} moved: {change} ({test})", importance=None
        )
    if brk is not None:
        title = f"{check.feature}: {brk.text}"
        return replace(base, signal="integrity", title=title, integrity=brk.code, fingerprint=brk.text)
    return base


def to_shifts(
    checks: list[FeatureComparison],
    decisions: dict[str, Decision],
    units: dict[str, str],
    importance: dict[str, float],
) -> list[Shift]:
    """Every measured input check as a shift, largest effect × importance first (at most ``MAX_SHIFTS``)."""

    def weight(name: str) -> float:
        return importance.get(name, 0.0) if importance else 1.0

    shifts = []
    for check in checks:
        if check.feature in OUTPUTS or check.effect is None or not math.isfinite(check.effect.statistic):
            continue
        before, after, what, unit = measured(check, units.get(check.feature, ""))
        decision = decisions.get(check.key)
        shifts.append(
            Shift(
                feature=check.feature,
                what=what,
                before=before,
                after=after,
                unit=unit,
                statistic=float(check.effect.statistic),
                threshold=float(check.effect.threshold),
                test=check.effect.test,
                importance=importance.get(check.feature) if importance else None,
                decided=bool(decision and decision.drifted),
            )
        )
    shifts.sort(key=lambda s: (-s.effect * weight(s.feature), s.feature))
    return shifts[:MAX_SHIFTS]
