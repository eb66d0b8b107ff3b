"""The statistics service's findings: SLO symptoms that read unambiguously, a worse model version, observed class
shares, traffic — from a run's numbers."""

from __future__ import annotations

from mlmon.baseline.profile import BaselineProfile, PredictionProfile
from mlmon.spec import SLO, parse_spec
from stats_service.evaluation import EvalResult
from stats_service.findings import (
    VersionEvaluation,
    evaluations,
    label_findings,
    slo_findings,
    traffic_findings,
    version_findings,
)
from stats_service.slo import SLOResult
from tests.unit.stats_service.test_collector import NOW, _run

SPEC = parse_spec(
    {
        "model": "m",
        "prediction": {"kind": "classification", "classes": ["no", "yes"], "positive_class": "yes"},
        "features": [{"name": "x", "type": "numeric"}],
    }
)


def test_slo_symptoms_read_value_then_bound() -> None:
    run = _run()
    run.slos = [
        SLOResult(SLO(metric="mae", op="<=", threshold=20), 27.37, True, "labels"),
        SLOResult(SLO(metric="p95_latency_ms", op="<=", threshold=200, severity="warning"), 812.0, True, "prom"),
        SLOResult(SLO(metric="empty_share", op="<=", threshold=0.05), 0.12, True, "store"),
        SLOResult(SLO(metric="roc_auc", op=">=", threshold=0.7), 0.75, False, "labels"),
    ]
    findings = slo_findings(run)
    assert [(f.signal, f.title) for f in findings] == [
        ("evaluation", "mae 27.37, SLO ≤ 20"),
        ("latency", "p95_latency_ms 812, SLO ≤ 200"),
        ("responses", "empty_share 0.12, SLO ≤ 0.05"),
    ]
    assert findings[0].severity == "critical" and findings[1].severity == "warning"
    assert all(f.change_text == "" for f in findings)  # no "20 -> 27.37"


def test_a_worse_version_needs_the_previous_one_to_have_held_recently() -> None:
    run = _run()  # serving version v1, precision 0.61 breaches precision >= 0.7
    breach = [r for r in run.slos if r.breached and r.slo.metric == "precision"]
    assert breach
    at = NOW.timestamp()
    held = {"v0": VersionEvaluation("v0", at - 3600, {"precision": 0.8})}
    [worse] = version_findings(run, held, at)
    assert worse.signal == "version" and worse.severity == "critical"
    assert worse.title == "version v1 precision 0.61 where version v0 had 0.8 in its last evaluation (SLO ≥ 0.7)"
    same = {"v0": VersionEvaluation("v0", at, {"precision": 0.8}, same_window=True)}
    assert "on the same window" in version_findings(run, same, at)[0].title
    assert version_findings(run, {"v0": VersionEvaluation("v0", at, {"precision": 0.65})}, at) == []  # breached too
    old = {"v0": VersionEvaluation("v0", at - 8 * 86400, {"precision": 0.8})}
    assert version_findings(run, old, at) == []  # too long ago to compare


def test_evaluations_mark_the_same_window_when_two_versions_are_in_it() -> None:
    run = _run()
    run.windows[0].evaluation = [
        EvalResult("v1", "all", "ok", 900, 800, {"precision": 0.5}),
        EvalResult("v0", "all", "ok", 300, 250, {"precision": 0.8}),
        EvalResult("v0", "channel=web", "ok", 100, 80, {"precision": 0.9}),
    ]
    got = {e.version: e for e in evaluations(run)}
    assert set(got) == {"v0", "v1"} and got["v0"].same_window and got["v0"].metrics == {"precision": 0.8}


def test_observed_class_shares_against_the_reference() -> None:
    run = _run()
    profile = BaselineProfile(
        model="m",
        model_version="v1",
        source="test",
        rows=1000,
        features={},
        prediction=PredictionProfile(
            kind="classification", count=1000, score_edges=[0.5], bin_shares=[0.8, 0.2], mean=0.2, std=0.1, min=0, max=1
        ),
    )
    run.windows[0].label_shares, run.windows[0].labelled = {"yes": 0.45, "no": 0.55}, 400
    [moved] = label_findings(SPEC, profile, run, min_labels=100)
    assert moved.signal == "labels" and moved.tier == "context"
    assert moved.title == "observed share of 'yes' 20% → 45% (400 labels)"
    run.windows[0].label_shares = {"yes": 0.25, "no": 0.75}
    assert label_findings(SPEC, profile, run, min_labels=100) == []  # 5 points: not a shift
    run.windows[0].label_shares, run.windows[0].labelled = {"yes": 0.45, "no": 0.55}, 40
    assert label_findings(SPEC, profile, run, min_labels=100) == []  # too few labels


def test_traffic_change_against_the_same_window_earlier() -> None:
    [traffic] = traffic_findings(_run(), threshold=0.4)
    assert traffic.signal == "traffic" and traffic.title == "predictions over 1h: 1200 against 2400 1d earlier (-50%)"
    assert traffic_findings(_run(), threshold=0.6) == []
