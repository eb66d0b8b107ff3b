"""The drift detector's /metrics page: values equal the run's numbers, and promtool accepts it."""

from __future__ import annotations

import subprocess

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from drift_detector.collector import DriftCollector
from drift_detector.run import DriftRun
from mlmon.jobs import JobHealth, JobHealthCollector
from tests.conftest import require_binary
from tests.unit.drift_detector.test_run import WINDOW, _run


def promtool_check(text: str) -> None:
    promtool = require_binary("promtool")
    done = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_drift_metrics_match_the_run_and_pass_promtool() -> None:
    registry = CollectorRegistry()
    collector = DriftCollector()
    registry.register(collector)
    health = JobHealth(job="drift", model="loan_default", interval_s=300)
    registry.register(JobHealthCollector(health))
    assert generate_latest(registry).decode().count("mlmon_drift_score") == 0  # nothing before the first run

    run = _run(drift=True)
    collector.update(run)
    health.record(True, 1.5, now=1_700_000_000.0)
    health.model_version = "abc123"
    health.backend_error("prometheus")
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    base = {("model", "loan_default"), ("model_version", "abc123")}
    for check in run.checks:
        assert check.effect is not None
        key = frozenset(
            base
            | {("feature", check.feature), ("method", check.effect.test), ("role", check.role), ("source", "store")}
        )
        assert got[("mlmon_drift_score", key)] == check.effect.statistic
        decision = run.decision_for(check)
        assert decision is not None
        detected = frozenset(base | {("feature", check.feature), ("role", check.role)})
        assert got[("mlmon_drift_detected", detected)] == (1.0 if decision.drifted else 0.0)
    assert got[("mlmon_drift_window_rows", frozenset(base))] == 1500
    assert got[("mlmon_drift_insufficient_data", frozenset(base))] == 0
    job = frozenset({("job", "drift"), ("model", "loan_default")})
    assert got[("mlmon_job_last_success_timestamp_seconds", job)] == 1_700_000_000.0
    assert got[("mlmon_job_runs_total", job | {("outcome", "success")})] == 1
    assert got[("mlmon_backend_errors_total", frozenset(base | {("backend", "prometheus")}))] == 1


def test_insufficient_data_run_is_exported_without_decisions() -> None:
    registry = CollectorRegistry()
    collector = DriftCollector()
    registry.register(collector)
    collector.update(DriftRun("loan_default", "abc123", WINDOW, 7, "insufficient_data"))
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    base = frozenset({("model", "loan_default"), ("model_version", "abc123")})
    assert got[("mlmon_drift_insufficient_data", base)] == 1
    assert got[("mlmon_drift_window_rows", base)] == 7
    assert not any(name == "mlmon_drift_detected" for name, _ in got)
