"""Stakeholder SLOs evaluated against what a run measured."""

from __future__ import annotations

import math

import pytest

from mlmon.spec import SLO, load_spec
from stats_service.slo import evaluate_slos
from tests.unit.drift_detector.helpers import SPEC_PATH


def slo(text: str, severity: str = "critical") -> SLO:
    metric, op, threshold = text.split()
    return SLO(metric=metric, op=op, threshold=float(threshold), severity=severity)


@pytest.mark.parametrize(
    ("rule", "value", "breached"),
    [
        ("precision >= 0.8", 0.8, False),  # the bound itself holds
        ("precision >= 0.8", 0.7999, True),
        ("precision > 0.8", 0.8, True),
        ("p95_latency_ms <= 200", 200.0, False),
        ("p95_latency_ms <= 200", 200.5, True),
        ("error_ratio < 0.01", 0.01, True),
        ("error_ratio < 0.01", 0.0, False),
    ],
)
def test_breach_follows_the_operator(rule: str, value: float, breached: bool) -> None:
    [result] = evaluate_slos([slo(rule)], {rule.split()[0]: (value, "prometheus")})
    assert result.breached is breached
    assert result.value == value
    assert result.source == "prometheus"
    assert result.name == rule


def test_unmeasured_or_nonfinite_is_unknown_not_breached() -> None:
    rules = [slo("precision >= 0.9"), slo("roc_auc >= 0.7"), slo("p95_latency_ms <= 100")]
    results = evaluate_slos(rules, {"roc_auc": (math.nan, "labels"), "p95_latency_ms": (None, "prometheus")})
    assert [(r.value, r.breached) for r in results] == [(None, False)] * 3
    assert results[0].source == "not measured"


def test_demo_spec_slos_against_measured_values() -> None:
    spec = load_spec(SPEC_PATH)
    measured = {
        "roc_auc": (0.66, "labels"),  # breach (>= 0.70)
        "precision": (0.5, "labels"),  # holds (>= 0.45)
        "p95_latency_ms": (12.0, "prometheus"),
        "fallback_share": (0.2, "store"),  # breach, warning
        "empty_share": (0.0, "store"),
    }
    results = {r.slo.metric: r for r in evaluate_slos(spec.slos, measured)}
    assert {m for m, r in results.items() if r.breached} == {"roc_auc", "fallback_share"}
    assert results["fallback_share"].slo.severity == "warning"
    assert results["roc_auc"].slo.severity == "critical"
