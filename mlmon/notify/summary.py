"""The structure every incident is told in — email, HTML drift report and stored report alike:

1. the kind of change and what makes it that kind (``mlmon.notify.kinds``), the first line;
2. the headline: the most severe symptom (critical before warning; evaluation, worse version, empty/fallback
   answers, output, latency, errors, traffic, label coverage in that order; a declared SLO before a statistical
   test of the same kind), else the top data-integrity break;
3. the symptoms;
4. the likely causes: the input findings of the window (data-integrity breaks and shifts), ranked by
   effect × importance — effect = statistic / threshold (≥ 1 passed), importance = the feature's share of the
   model's sensitivity, measured once at registration by permutation on the reference rows
   (``mlmon.registry.importance``); without stored importance every input weighs the same, and the summary says so;
5. the top input shifts with before → after numbers (measured, decided or not), so an evaluation breach shows
   what the inputs did even when none passed its threshold;
6. context: findings that are not paged alone (an input shift without a symptom, observed class shares).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlmon.notify.findings import SYMPTOMS, Finding, Severity, Shift, format_number, max_severity, severity_rank
from mlmon.notify.kinds import ChangeKind, classify

TOP_SHIFTS = 5
IMPORTANCE_PERMUTATION = (
    "causes ranked by effect × importance; importance = permutation importance of each input on the reference "
    "rows, stored at registration"
)
IMPORTANCE_EQUAL = (
    "causes ranked by effect alone: this model version has no stored importance (e.g. registered with "
    "precomputed predictions), so every input weighs the same"
)


@dataclass(frozen=True)
class Cause:
    """An input, ranked: ``score = effect × weight`` (weight: importance share, or 1/n without importance)."""

    name: str
    text: str
    effect: float
    weight: float
    importance: float | None
    finding: Finding | None = None
    shift: Shift | None = None

    @property
    def score(self) -> float:
        return self.effect * self.weight

    @property
    def ranking_text(self) -> str:
        weight = f"importance {self.importance:.2f}" if self.importance is not None else "equal weight"
        return f"effect {self.effect:.2g}× threshold, {weight}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "effect": self.effect,
            "importance": self.importance,
            "score": self.score,
            "decided": self.finding is not None or bool(self.shift and self.shift.decided),
            "integrity": self.finding.integrity if self.finding else "",
        }


@dataclass(frozen=True)
class Summary:
    kind: ChangeKind | None
    severity: Severity | None
    actionable: bool  # pages (symptoms, integrity breaks; input shifts too with MLMON_INPUT_SHIFTS=notify)
    headline: Finding | None
    symptoms: tuple[Finding, ...]
    causes: tuple[Cause, ...]
    top_shifts: tuple[Cause, ...]
    context: tuple[Finding, ...]
    importance_note: str

    @property
    def first_line(self) -> str:
        if self.kind is None:
            return "Nothing found."
        return self.kind.text[0].upper() + self.kind.text[1:]

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (*self.symptoms, *(c.finding for c in self.causes if c.finding), *self.context)

    def to_document(self) -> dict[str, Any]:
        """The summary as JSON, for the stored reports and the incident state."""
        return {
            "kind": self.kind.to_dict() if self.kind else None,
            "first_line": self.first_line,
            "severity": self.severity,
            "actionable": self.actionable,
            "headline": self.headline.title if self.headline else None,
            "symptoms": [_finding_row(f) for f in self.symptoms],
            "likely_causes": [c.to_dict() for c in self.causes],
            "top_input_shifts": [c.to_dict() for c in self.top_shifts],
            "context": [_finding_row(f) for f in self.context],
            "importance": self.importance_note,
        }

    def lines(self) -> list[str]:
        """The summary as plain text lines (the drift detector's ``--once`` output, logs)."""
        out = [self.first_line]
        if self.symptoms:
            out.append("Symptoms:")
            out += [f"  [{f.severity.upper()}] {f.title}" for f in self.symptoms]
        if self.causes:
            out.append("Likely causes:")
            out += [f"  {c.name}: {c.text} ({c.ranking_text})" for c in self.causes]
        if self.top_shifts:
            out.append("Top input shifts:")
            out += [f"  {c.name}: {c.text} ({c.ranking_text})" for c in self.top_shifts]
        if self.context:
            out.append("Context:")
            out += [f"  {f.title}" for f in self.context]
        return out


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {
        "signal": finding.signal,
        "name": finding.name,
        "severity": finding.severity,
        "title": finding.title,
        "change": finding.change_text,
    }


def _symptom_order(finding: Finding) -> tuple[int, int, int, float, str]:
    """Critical first, then by signal; a declared SLO before a statistical test of the same signal."""
    declared = 0 if not finding.test else 1
    return (-severity_rank(finding.severity), SYMPTOMS.index(finding.signal), declared, -finding.effect, finding.name)


def _weights(names: Sequence[str], importance: Mapping[str, float | None]) -> dict[str, float]:
    known = {n: importance.get(n) for n in names}
    if any(v is not None for v in known.values()):
        return {n: float(v or 0.0) for n, v in known.items()}
    return {n: 1.0 / max(1, len(names)) for n in names}


def _cause_text(finding: Finding) -> str:
    if finding.signal == "integrity":
        change = f"; {finding.change_text}" if finding.change_text and finding.what != "fill rate" else ""
        return f"{finding.fingerprint} (data-integrity break{change})"
    change = finding.change_text
    return f"{change} ({finding.test} {format_number(finding.statistic)}, threshold {format_number(finding.threshold)})"


def _shift_text(shift: Shift) -> str:
    test = f"{shift.test} {format_number(shift.statistic)}" if shift.test else "effect n/a"
    status = "passed" if shift.decided else "below"
    return f"{shift.change_text} ({test}, {status} its threshold {format_number(shift.threshold)})"


def summarize(
    findings: Sequence[Finding],
    shifts: Sequence[Shift] = (),
    *,
    importance_source: str = "",
    output_measured: bool = False,
    input_shifts_page: bool = False,
) -> Summary:
    """Build the structure of the module docstring from an incident's (or a run's) findings and shifts."""
    symptoms = sorted((f for f in findings if f.tier == "symptom"), key=_symptom_order)
    inputs = [f for f in findings if f.is_input]
    context = [f for f in findings if f.tier == "context" and not f.is_input]
    importance: dict[str, float | None] = {}
    for name, value in [*((f.name, f.importance) for f in inputs), *((s.feature, s.importance) for s in shifts)]:
        if value is not None:
            importance[name] = value
    names = list(dict.fromkeys([*(f.name for f in inputs), *(s.feature for s in shifts)]))
    weights = _weights(names, importance)
    causes = sorted(
        (
            Cause(f.name, _cause_text(f), f.effect, weights.get(f.name, 0.0), importance.get(f.name), finding=f)
            for f in inputs
        ),
        key=lambda c: (-c.score, -c.effect, c.name),
    )
    ranked_shifts = sorted(
        (
            Cause(s.feature, _shift_text(s), s.effect, weights.get(s.feature, 0.0), importance.get(s.feature), shift=s)
            for s in shifts
        ),
        key=lambda c: (-c.score, -c.effect, c.name),
    )[:TOP_SHIFTS]
    integrity = [c.finding for c in causes if c.finding is not None and c.finding.signal == "integrity"]
    plain = [c.finding for c in causes if c.finding is not None and c.finding.signal == "input"]
    ordered = [*symptoms, *integrity, *plain, *context]
    kind = classify(ordered, shifts=shifts, output_measured=output_measured)
    paging = [*symptoms, *integrity, *(plain if input_shifts_page else [])]
    headline = symptoms[0] if symptoms else (integrity[0] if integrity else (plain[0] if plain else None))
    severity = max_severity(paging) or ("warning" if ordered else None)
    has_importance = importance_source == "permutation" or any(v is not None for v in importance.values())
    return Summary(
        kind=kind,
        severity=severity,
        actionable=bool(paging),
        headline=headline,
        symptoms=tuple(symptoms),
        causes=tuple(causes),
        top_shifts=tuple(ranked_shifts),
        context=tuple(context),
        importance_note=IMPORTANCE_PERMUTATION if has_importance else IMPORTANCE_EQUAL,
    )
