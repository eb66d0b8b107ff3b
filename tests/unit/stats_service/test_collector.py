"""The statistics service's /metrics page: values equal the run's numbers, and promtool accepts it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from mlmon.spec import SLO
from mlmon.store.base import TimeWindow
from stats_service.collector import StatsCollector
from stats_service.evaluation import EvalResult
from stats_service.run import StatsRun, WindowReport, report_document, summary_line, to_record
from stats_service.slo import SLOResult
from stats_service.traffic import TrafficResult
from tests.unit.drift_detector.test_collector import promtool_check, samples

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _run() -> StatsRun:
    window = TimeWindow(NOW - timedelta(hours=1), NOW)
    report = WindowReport(name="1h", window=window, rows=1200)
    report.features = {
        "income": {
            "count": 1150.0,
            "missing_share": 50 / 1200,
            "mean": 51000.0,
            "p95": 98000.0,
            "out_of_range_share": 0.0,
        },
        "prediction": {"count": 1200.0, "missing_share": 0.0, "mean": 0.21, "std": math.nan},
        "channel": {"count": 1200.0, "missing_share": 0.0, "unseen_share": 0.05},
    }
    report.responses = {"empty_share": 0.02, "fallback_share": 0.08, "ok_share": 0.9}
    report.eval_window = window.shift(3600)
    report.evaluation = [
        EvalResult("v1", "all", "ok", 1000, 700, {"precision": 0.61, "roc_auc": 0.77}, label_lag_s=1800.0),
        EvalResult("v1", "channel=web", "ok", 500, 350, {"precision": 0.64}),
        EvalResult("v0", "all", "insufficient_labels", 40, 3, label_lag_s=600.0),
    ]
    report.traffic = TrafficResult(
        window="1h",
        request_rate=0.33,
        error_ratio=0.0,
        p95_latency_ms=12.0,
        volume=1200.0,
        previous_volume={"1d": 2400.0, "1w": None},
        change_ratio={"1d": -0.5, "1w": None},
    )
    slo_precision = SLO(metric="precision", op=">=", threshold=0.7)
    slo_fallback = SLO(metric="fallback_share", op="<=", threshold=0.05, severity="warning")
    slo_latency = SLO(metric="p95_latency_ms", op="<=", threshold=200)
    return StatsRun(
        model="loan_default",
        version="v1",
        at=NOW,
        windows=[report],
        slos=[
            SLOResult(slo_precision, 0.61, True, "labels"),
            SLOResult(slo_fallback, 0.08, True, "store"),
            SLOResult(slo_latency, None, False, "not measured"),
        ],
    )


def test_stats_metrics_match_the_run_and_pass_promtool() -> None:
    registry = CollectorRegistry()
    collector = StatsCollector()
    registry.register(collector)
    assert "mlmon_feature_stat" not in generate_latest(registry).decode()
    run = _run()
    collector.update(run)
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset({("model", "loan_default"), *labels.items()}))]

    assert value("mlmon_feature_stat", window="1h", feature="income", stat="p95") == 98000.0
    assert value("mlmon_feature_stat", window="1h", feature="channel", stat="unseen_share") == 0.05
    assert not any(n == "mlmon_feature_stat" and ("stat", "std") in k for n, k in got)  # NaN is left out
    assert value("mlmon_response_share", window="1h", kind="fallback") == 0.08
    assert value("mlmon_traffic_change_ratio", window="1h", offset="1d") == -0.5
    assert not any(n == "mlmon_traffic_change_ratio" and ("offset", "1w") in k for n, k in got)
    assert value("mlmon_eval_metric", model_version="v1", metric="roc_auc", segment="all", window="1h") == 0.77
    assert (
        value("mlmon_eval_metric", model_version="v1", metric="precision", segment="channel=web", window="1h") == 0.64
    )
    assert not any(n == "mlmon_eval_metric" and ("model_version", "v0") in k for n, k in got)
    assert value("mlmon_label_coverage_ratio", model_version="v1", window="1h") == 0.7
    assert value("mlmon_label_coverage_ratio", model_version="v0", window="1h") == 3 / 40
    assert value("mlmon_label_lag_seconds", window="1h") == 1800.0
    assert value("mlmon_window_predictions", window="1h") == 1200
    assert value("mlmon_slo_breach", slo="precision >= 0.7", metric="precision", severity="critical") == 1
    assert value("mlmon_slo_breach", slo="fallback_share <= 0.05", metric="fallback_share", severity="warning") == 1
    assert not any(n == "mlmon_slo_breach" and ("metric", "p95_latency_ms") in k for n, k in got)


def test_report_document_is_strict_json() -> None:
    import json

    run = _run()
    doc = json.loads(json.dumps(report_document(run), allow_nan=False))
    assert doc["windows"][0]["features"]["prediction"]["std"] is None
    assert doc["windows"][0]["evaluation"][0]["metrics"] == {"precision": 0.61, "roc_auc": 0.77}
    assert doc["windows"][0]["evaluation"][0]["coverage"] == 0.7
    assert doc["windows"][0]["traffic"]["change_ratio"] == {"1d": -0.5, "1w": None}
    assert [s["breached"] for s in doc["slos"]] == [True, True, False]
    assert doc["summary"] == summary_line(run)
    assert "SLO breached: precision >= 0.7; fallback_share <= 0.05" in doc["summary"]


def test_to_record_carries_the_indexed_summary() -> None:
    from mlmon.notify.findings import Finding

    run = _run()
    run.findings = [
        Finding(signal="evaluation", name="precision", severity="critical", title="precision 0.6, SLO ≥ 0.7")
    ]
    record = to_record(run)
    assert (record.kind, record.timestamp, record.model_version) == ("stats", run.at, run.version)
    assert record.status == "slo_breached" and record.summary == summary_line(run)
    assert record.findings == ("precision",) and record.drift_detected is None
    assert record.body == report_document(run)
    assert record.body["incident_summary"]["first_line"].startswith("Concept drift: precision 0.6, SLO ≥ 0.7")
