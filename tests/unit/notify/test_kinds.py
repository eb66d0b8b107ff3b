"""The kind of change, named by rules over an incident's signals, on synthetic incidents (one per rule)."""

from __future__ import annotations

import pytest

from mlmon.notify.summary import summarize
from tests.unit.notify.helpers import finding, shift

EMPTY = finding("responses", "empty_share", severity="critical", title="empty_share 0.58, SLO ≤ 0.05")
OUTPUT = finding("output", "prediction", severity="critical", title="prediction distribution moved")
AUC = finding("evaluation", "roc_auc", severity="critical", title="roc_auc 0.61, SLO ≥ 0.7")
WORSE = finding("version", "roc_auc", severity="critical", title="version v2 roc_auc 0.61 where version v1 had 0.78")
UNIT = finding("integrity", "duration_s", fingerprint="values ≈1000× the training values — a unit change?")
FILL = finding("integrity", "x", integrity="fill_rate", fingerprint="fill rate 80% → 20%", aspect="fill")
SHIFT = finding("input", "temperature", title="temperature: mean 12 → 24")
LABELS = finding("labels", "label_share:yes", title="observed share of 'yes' 12% → 31%")
LATENCY = finding("latency", "p95_latency_ms", severity="critical", title="p95_latency_ms 812, SLO ≤ 200")
STABLE = (shift("temperature", 0.3), shift("humidity", 0.2))


def kind(*findings, shifts=(), output_measured=False):
    summary = summarize(findings, shifts, output_measured=output_measured)
    assert summary.kind is not None
    return summary.kind


@pytest.mark.parametrize(
    ("findings", "shifts", "output_measured", "code", "words"),
    [
        ((EMPTY, FILL), STABLE, True, "post_processing", "empty_share 0.58, SLO ≤ 0.05 while the scores are stable"),
        ((EMPTY,), (), False, "post_processing", "(scores not measured)"),
        ((WORSE, AUC), STABLE, True, "worse_version", "version v2 roc_auc 0.61 where version v1 had 0.78"),
        ((OUTPUT, UNIT), STABLE, True, "data_integrity", "duration_s values ≈1000× the training values"),
        ((FILL,), (), False, "data_integrity", "x fill rate 80% → 20%"),
        ((EMPTY, OUTPUT, FILL), (), True, "data_integrity", "fill rate"),  # scores moved too: not post-processing
        ((LABELS, OUTPUT), STABLE, True, "prior_shift", "observed share of 'yes' 12% → 31%"),
        ((AUC,), STABLE, True, "concept_drift", "roc_auc 0.61, SLO ≥ 0.7 while the inputs are stable"),
        ((AUC,), (), False, "concept_drift", "(inputs not measured)"),
        ((SHIFT,), STABLE, False, "covariate_shift", "temperature moved; evaluation stable or unknown"),
        ((AUC, SHIFT), STABLE, False, "covariate_shift", "temperature moved; roc_auc 0.61, SLO ≥ 0.7"),
        ((OUTPUT,), STABLE, True, "output_change", "while the inputs are stable"),
        ((LATENCY,), (), False, "latency", "p95_latency_ms 812, SLO ≤ 200"),
    ],
)
def test_each_rule(findings, shifts, output_measured, code, words) -> None:
    named = kind(*findings, shifts=shifts, output_measured=output_measured)
    assert named.code == code
    assert words in named.detail
    assert named.text.startswith(named.label)


def test_nothing_has_no_kind() -> None:
    assert summarize([]).kind is None


def test_headline_is_the_most_severe_symptom_and_causes_rank_by_effect_times_importance() -> None:
    warn = finding("traffic", "traffic_1h_vs_1d", severity="warning", title="predictions over 1h: 10 against 40")
    big_unimportant = finding("input", "noise", effect=9.0, importance=0.01)
    small_important = finding("input", "temperature", effect=2.0, importance=0.6)
    summary = summarize([warn, big_unimportant, AUC, small_important])
    assert summary.headline is AUC and [f.name for f in summary.symptoms] == ["roc_auc", "traffic_1h_vs_1d"]
    assert [c.name for c in summary.causes] == ["temperature", "noise"]  # 2 × 0.6 > 9 × 0.01
    assert "importance" in summary.importance_note and "permutation" in summary.importance_note


def test_without_importance_every_input_weighs_the_same_and_the_summary_says_so() -> None:
    summary = summarize([AUC, finding("input", "a", effect=3.0), finding("input", "b", effect=5.0)])
    assert [c.name for c in summary.causes] == ["b", "a"]
    assert "every input weighs the same" in summary.importance_note


def test_top_input_shifts_show_before_and_after_even_below_threshold() -> None:
    summary = summarize([AUC], [shift("a", 0.4, 0.5), shift("b", 0.9, 0.1), shift("c", 0.2, 0.4)])
    assert [c.name for c in summary.top_shifts] == ["a", "b", "c"]  # 0.2 > 0.09 > 0.08
    assert "mean 10 → 12" in summary.top_shifts[0].text and "below its threshold" in summary.top_shifts[0].text


def test_input_shifts_alone_are_context_not_actionable() -> None:
    assert not summarize([SHIFT]).actionable
    assert summarize([SHIFT], input_shifts_page=True).actionable
    assert summarize([FILL]).actionable and summarize([AUC]).actionable


def test_the_document_has_the_same_structure_as_the_email() -> None:
    doc = summarize([AUC, UNIT], [shift("duration_s", 40.0)]).to_document()
    assert set(doc) >= {"kind", "first_line", "headline", "symptoms", "likely_causes", "top_input_shifts", "context"}
    assert doc["first_line"].startswith("Data-integrity break: duration_s values ≈1000×")
    assert doc["headline"] == "roc_auc 0.61, SLO ≥ 0.7"
    assert doc["likely_causes"][0]["integrity"] == "unit_change"
