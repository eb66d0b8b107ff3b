"""Name the kind of change, by rules over an incident's signals (the first rule that matches wins).

1. **post-processing fault**: an empty/fallback share symptom (``responses``) while the prediction distribution
   is stable (no ``output`` finding): the model still scores as before, the answers are lost after it.
2. **worse model version**: the statistics service found the serving version's evaluation metric breaching
   where the previous version's held (``version``), on the same traffic window when both versions are in it.
3. **data-integrity break**: an input broke (``integrity``), named by its fingerprint — "values ≈1000× the
   training values — a unit change?", "fill rate 80% → 20%", "new category 'x' at 30%", "stuck at one value",
   "out of the training range".
4. **prior/label shift**: the observed class shares moved (``labels``) and so did the predicted ones (an
   ``output`` finding).
5. **concept drift**: an evaluation metric fell (``evaluation``) while no input moved (no ``input`` or
   ``integrity`` finding); said "inputs not measured" when no drift run measured them.
6. **covariate shift**: inputs moved (``input``), the evaluation stable or unknown (an evaluation breach is
   named next to it: the shifted inputs are its likely causes).
7. otherwise the headline symptom names it: output change (the predictions moved, inputs stable), latency,
   error rate, traffic change, label coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlmon.notify.findings import Finding, Shift

LABELS = {
    "post_processing": "post-processing fault",
    "worse_version": "worse model version",
    "data_integrity": "data-integrity break",
    "prior_shift": "prior/label shift",
    "concept_drift": "concept drift",
    "covariate_shift": "covariate shift",
    "output_change": "output change",
    "latency": "latency",
    "errors": "error rate",
    "traffic": "traffic change",
    "coverage": "label coverage",
}
_BY_SYMPTOM = {
    "output": "output_change",
    "latency": "latency",
    "errors": "errors",
    "traffic": "traffic",
    "coverage": "coverage",
}


@dataclass(frozen=True)
class ChangeKind:
    code: str  # a key of LABELS
    detail: str  # what makes it that kind, in words (the fingerprint of an integrity break)
    rule: int  # the rule of the module docstring that named it

    @property
    def label(self) -> str:
        return LABELS[self.code]

    @property
    def text(self) -> str:
        """``data-integrity break: x values ≈1000× the training values — a unit change?``"""
        return f"{self.label}: {self.detail}" if self.detail else self.label

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "label": self.label, "detail": self.detail, "rule": self.rule}


def _first(findings: Sequence[Finding], signal: str) -> Finding | None:
    return next((f for f in findings if f.signal == signal), None)


def _names(findings: Sequence[Finding], limit: int = 3) -> str:
    names = list(dict.fromkeys(f.name for f in findings))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def classify(
    findings: Sequence[Finding], *, shifts: Sequence[Shift] = (), output_measured: bool = False
) -> ChangeKind | None:
    """The kind of change of an incident whose findings are ``findings`` (ranked: most important first within
    each signal); None when there is nothing. Inputs count as measured when ``shifts`` holds any measurement;
    ``output_measured``: a drift run measured the prediction distribution."""
    if not findings:
        return None
    measured = bool(shifts)
    responses = _first(findings, "responses")
    output = _first(findings, "output")
    inputs = [f for f in findings if f.signal == "input"]
    breaks = [f for f in findings if f.signal == "integrity"]
    evaluation = _first(findings, "evaluation")
    if responses is not None and output is None:
        scores = "while the scores are stable" if output_measured else "(scores not measured)"
        return ChangeKind("post_processing", f"{responses.title} {scores}", 1)
    version = _first(findings, "version")
    if version is not None:
        return ChangeKind("worse_version", version.title, 2)
    if breaks:
        top = breaks[0]
        return ChangeKind("data_integrity", f"{top.name} {top.fingerprint}".strip(), 3)
    labels = _first(findings, "labels")
    if labels is not None and output is not None:
        return ChangeKind("prior_shift", f"{labels.title}; {output.title}", 4)
    if evaluation is not None and not inputs:
        stable = "while the inputs are stable" if measured else "(inputs not measured)"
        return ChangeKind("concept_drift", f"{evaluation.title} {stable}", 5)
    if inputs:
        moved = f"{_names(inputs)} moved"
        if evaluation is not None:
            return ChangeKind("covariate_shift", f"{moved}; {evaluation.title}", 6)
        return ChangeKind("covariate_shift", f"{moved}; evaluation stable or unknown", 6)
    for finding in findings:
        code = _BY_SYMPTOM.get(finding.signal)
        if code is not None:
            detail = finding.title
            if code == "output_change":
                detail += " while the inputs are stable" if measured else " (inputs not measured)"
            return ChangeKind(code, detail, 7)
    if labels is not None:
        return ChangeKind("prior_shift", labels.title, 4)
    return None
