"""A drift run told three ways: the report document, the summary, findings for email — from real engine
results on a small synthetic baseline."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from drift_detector.findings import to_finding
from drift_detector.integrity import fingerprint
from drift_detector.run import (
    DriftRun,
    check_row,
    report_document,
    summary_line,
    summary_text,
    to_record,
)
from mlmon.stats.baseline import PREDICTED_CLASS, PREDICTION, Baseline, CategoricalBaseline, NumericBaseline
from mlmon.stats.decision import decide
from mlmon.stats.engine import compare
from mlmon.store.base import TimeWindow

END = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(END - timedelta(hours=1), END)


def _baseline(rng: np.random.Generator) -> Baseline:
    n = 4000
    age = rng.normal(41, 12, n)
    age[rng.random(n) < 0.05] = np.nan
    scores = rng.beta(2, 5, n)
    return Baseline(
        rows=n,
        features={
            "age": NumericBaseline.from_values(age, keep_values=True),
            "seconds_since_last_application": NumericBaseline.from_values(rng.exponential(1.5e7, n), keep_values=True),
            "channel": CategoricalBaseline.from_values(rng.choice(["web", "mobile", "branch"], n, p=[0.5, 0.3, 0.2])),
            PREDICTION: NumericBaseline.from_values(scores, keep_values=True, role="output"),
            PREDICTED_CLASS: CategoricalBaseline.from_values(
                np.where(scores >= 0.5, "default", "no_default"), role="output"
            ),
        },
    )


def _run(drift: bool, *, consecutive: int = 1, history: dict[str, int] | None = None) -> DriftRun:
    rng = np.random.default_rng(5)
    baseline = _baseline(rng)
    n = 1500
    since = rng.exponential(1.5e7, n)
    if drift:
        since = since * 1000  # seconds → milliseconds upstream
    age = rng.normal(41, 12, n)
    age[rng.random(n) < 0.3] = np.nan  # fill rate fell
    scores = rng.beta(2, 5, n)
    current = {
        "age": age,
        "seconds_since_last_application": since,
        "channel": rng.choice(["web", "mobile", "branch", "kiosk"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object),
        PREDICTION: scores,
        PREDICTED_CLASS: np.where(scores >= 0.5, "default", "no_default").astype(object),
    }
    checks = compare(baseline, current, rows=n, exact_max_rows=50_000)
    for check in checks:  # as the job does: the profile's mean is the "before" of a numeric feature
        base = baseline.features.get(check.feature)
        if isinstance(base, NumericBaseline) and base.values is not None:
            check.summary.setdefault("ref_mean", float(np.nanmean(base.values)))
    decisions, _ = decide(checks, consecutive=consecutive, min_rows=100, history=history)
    run = DriftRun(
        model="loan_default",
        version="abc123",
        window=WINDOW,
        rows=n,
        status="ok",
        checks=checks,
        decisions=decisions,
        path="exact",
        example_ids=["p1", "p2"],
    )
    run.finished_at = END
    run.report_path = "/tmp/reports/loan_default/drift-x.html"
    return run


def test_report_document_is_strict_json_with_every_check() -> None:
    run = _run(drift=True)
    doc = report_document(run)
    text = json.dumps(doc, allow_nan=False)  # Elasticsearch rejects NaN: nothing non-finite may remain
    back = json.loads(text)
    assert back["kind"] == "drift" and back["status"] == "ok" and back["path"] == "exact"
    assert back["model"] == {"name": "loan_default", "version": "abc123"}
    assert back["window"] == {"start": WINDOW.start.isoformat(), "end": WINDOW.end.isoformat()}
    assert back["rows"] == 1500
    assert len(back["checks"]) == len(run.checks)
    assert back["drift_detected"] is True
    assert "seconds_since_last_application" in back["drifted_features"]
    assert "age" in back["drifted_features"]  # as a quality (fill rate) drift
    assert back["drifted_features"] == [c.feature for c, _ in run.drifted]
    by_key = {(c["feature"], c["role"]): c for c in back["checks"]}
    unit = by_key[("seconds_since_last_application", "input")]
    check = next(c for c in run.checks if c.key == "input:seconds_since_last_application")
    assert unit["statistic"] == pytest.approx(check.effect.statistic)
    assert unit["status"] == "drift" and unit["p_adjusted"] < 0.05
    assert unit["n_cur"] == 1500 and unit["n_ref"] == 4000
    assert by_key[("age", "quality")]["status"] == "drift"
    assert by_key[("prediction", "output")]["status"] == "no_drift"
    assert back["summary"] == summary_line(run)
    assert back["prometheus"] is None


def test_no_drift_document_and_summary() -> None:
    rng = np.random.default_rng(8)
    baseline = _baseline(rng)
    scores = rng.beta(2, 5, 1000)
    current = {PREDICTION: scores, PREDICTED_CLASS: np.where(scores >= 0.5, "default", "no_default").astype(object)}
    checks = compare(Baseline(baseline.rows, {k: baseline.features[k] for k in current}), current)
    decisions, _ = decide(checks, min_rows=100)
    run = DriftRun("loan_default", "abc123", WINDOW, 1000, "ok", checks=checks, decisions=decisions)
    doc = report_document(run)
    assert doc["drift_detected"] is False and doc["drifted_features"] == []
    assert summary_line(run) == "loan_default abc123: no drift in 1000 rows (2 checks)"


def test_a_gross_change_is_decided_in_the_first_window_and_the_report_says_so() -> None:
    first = _run(drift=True, consecutive=2)
    pairs = {c.key: (c, d) for c, d in first.drifted}
    check, decision = pairs["input:seconds_since_last_application"]
    assert decision.immediate and decision.streak == 1
    row = check_row(check, decision)
    assert row["status"] == "drift" and row["immediate"] is True and "decided at once" in row["reason"]


def test_insufficient_data_summary_and_document() -> None:
    run = DriftRun(
        "loan_default",
        "abc123",
        WINDOW,
        12,
        "insufficient_data",
        notes=["12 rows in the window, fewer than min_rows=200: no decision"],
    )
    doc = report_document(run)
    assert doc["status"] == "insufficient_data" and doc["checks"] == [] and doc["drift_detected"] is False
    assert doc["notes"] == run.notes
    assert summary_line(run) == "loan_default abc123: insufficient data (12 rows in the window)"
    assert "min_rows=200" in summary_text(run)


def test_unit_change_finding_names_the_break_and_before_after() -> None:
    run = _run(drift=True)
    pairs = {c.key: (c, d) for c, d in run.drifted}
    check, decision = pairs["input:seconds_since_last_application"]
    brk = fingerprint(check)
    assert brk is not None and brk.code == "unit_change"
    finding = to_finding(check, decision, unit="s", importance=0.3, brk=brk)
    assert finding.signal == "integrity" and finding.severity == "warning" and finding.importance == 0.3
    assert finding.title == "seconds_since_last_application: values ≈1,000× the training values — a unit change?"
    assert finding.fingerprint == brk.text and finding.integrity == "unit_change"
    plain = to_finding(check, decision, unit="s")  # without the break: a shift of the distribution
    assert plain.signal == "input" and plain.title.startswith("seconds_since_last_application: mean ")
    assert check.effect is not None and check.effect.test in plain.title
    # before/after are the means: about 1.5e7 s before, 1000 times more after
    assert finding.before == pytest.approx(check.summary["ref_mean"])
    assert finding.after == pytest.approx(check.summary["cur_mean"])
    assert finding.after / finding.before == pytest.approx(1000, rel=0.2)  # type: ignore[operator]
    assert finding.unit == "s"
    assert "outside the baseline range" in finding.detail
    assert finding.effect == pytest.approx(check.effect.statistic / check.effect.threshold)
    assert finding.chart is not None and len(finding.chart.labels) == len(check.labels)


def test_quality_and_category_findings() -> None:
    run = _run(drift=True)
    pairs = {c.key: (c, d) for c, d in run.drifted}
    check, decision = pairs["quality:age"]
    brk = fingerprint(check)  # 28 points at once, far above its threshold: the first window of a collapse
    assert brk is not None and brk.code == "fill_rate" and brk.text.startswith("fill rate 95% → 6")
    assert to_finding(check, decision, brk=brk).key == "integrity:age:fill:fill_rate"
    finding = to_finding(check, decision, unit="years")  # told as a shift when it is not a break
    assert finding.signal == "input" and finding.unit == "share" and finding.key == "input:age:fill"  # a share
    assert finding.title.startswith("age: fill rate 95% → 6")
    assert finding.before == pytest.approx(1 - check.summary["ref_missing_share"])  # type: ignore[operator]
    assert finding.after == pytest.approx(1 - check.summary["cur_missing_share"])  # type: ignore[operator]
    assert 0.6 < finding.after < 0.75  # type: ignore[operator]


def test_output_findings_are_critical() -> None:
    run = _run(drift=False)
    output = next(c for c in run.checks if c.role == "output" and c.feature == PREDICTION)
    decision = run.decision_for(output)
    assert decision is not None
    finding = to_finding(output, decision)
    assert finding.signal == "output" and finding.severity == "critical" and finding.tier == "symptom"
    assert finding.title.startswith("prediction distribution moved: mean ")


def test_the_run_tells_its_findings_in_the_incident_structure() -> None:
    run = _run(drift=True)
    run.breaks = {c.key: b for c in run.checks if (b := fingerprint(c)) is not None}
    run.importance = {"seconds_since_last_application": 0.5, "age": 0.3, "channel": 0.2}
    signals = {f.key: f.signal for f in run.findings}
    assert signals["integrity:seconds_since_last_application:unit_change"] == "integrity"
    assert {s.feature for s in run.shifts} >= {"age", "channel", "seconds_since_last_application"}
    doc = report_document(run)["incident_summary"]
    assert doc["first_line"].startswith("Data-integrity break: seconds_since_last_application values ≈1,000×")
    assert doc["likely_causes"][0]["name"] == "seconds_since_last_application"
    assert "Likely causes:" in summary_text(run)


def test_summary_text_lists_every_check_and_the_report() -> None:
    run = _run(drift=True)
    text = summary_text(run)
    lines = text.splitlines()
    assert lines[0].startswith("loan_default abc123: DRIFT in ")
    assert "seconds_since_last_application (input)" in lines[0]
    for check in run.checks:
        assert any(line.startswith(check.feature) and check.role in line for line in lines), check.key
    assert lines[-1] == "HTML report: /tmp/reports/loan_default/drift-x.html"
    assert not any(math.isnan(c.effect.statistic) for c in run.checks if c.effect)


@pytest.mark.parametrize("drift", [True, False])
def test_to_record_carries_the_indexed_summary(drift: bool) -> None:
    run = _run(drift=drift)
    record = to_record(run)
    doc = report_document(run)
    assert (record.kind, record.timestamp, record.model_version, record.status) == ("drift", END, "abc123", "ok")
    assert record.drift_detected is bool(run.drifted) and record.summary == summary_line(run)
    assert list(record.findings) == doc["drifted_features"] == [c.feature for c, _ in run.drifted]
    assert ("seconds_since_last_application" in record.findings) is drift
    assert record.body == doc
