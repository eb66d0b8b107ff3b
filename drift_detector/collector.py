"""Prometheus collector for the drift detector: the last run's numbers as one consistent snapshot."""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from drift_detector.run import DriftRun
from mlmon.jobs import LatestRun


class DriftCollector(LatestRun[DriftRun]):
    def collect(self) -> Iterable[Metric]:
        run = self.latest()
        if run is None:
            return
        base = ["model", "model_version"]
        values = [run.model, run.version]
        score = GaugeMetricFamily(
            "mlmon_drift_score",
            "Effect size of the drift test (statistic of `method`)",
            labels=[*base, "feature", "method", "role", "source"],  # source: where the window's numbers came from
        )
        p_value = GaugeMetricFamily(
            "mlmon_drift_p_value",
            "p-value of the significance test, before Benjamini–Hochberg",
            labels=[*base, "feature", "method", "role"],
        )
        detected = GaugeMetricFamily(
            "mlmon_drift_detected",
            "1 when drift is decided for the feature (effect, BH, consecutive windows)",
            labels=[*base, "feature", "role"],
        )
        for check in run.checks:
            if check.effect is not None and math.isfinite(check.effect.statistic):
                score.add_metric(
                    [*values, check.feature, check.effect.test, check.role, run.source], check.effect.statistic
                )
            if check.significance is not None and check.significance.p_value is not None:
                p_value.add_metric(
                    [*values, check.feature, check.significance.test, check.role], check.significance.p_value
                )
        for decision in run.decisions:
            detected.add_metric([*values, decision.feature, decision.role], 1.0 if decision.drifted else 0.0)
        if run.prometheus_check is not None and run.prometheus_check.effect is not None:
            check = run.prometheus_check
            assert check.effect is not None
            score.add_metric(
                [*values, check.feature, check.effect.test, check.role, "prometheus"], check.effect.statistic
            )
        yield score
        yield p_value
        yield detected
        rows = GaugeMetricFamily("mlmon_drift_window_rows", "Predictions in the last drift window", labels=base)
        rows.add_metric(values, run.rows)
        yield rows
        insufficient = GaugeMetricFamily(
            "mlmon_drift_insufficient_data", "1 when the last window had too few rows for a decision", labels=base
        )
        insufficient.add_metric(values, 1.0 if run.status == "insufficient_data" else 0.0)
        yield insufficient
