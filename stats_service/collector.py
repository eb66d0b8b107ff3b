"""Prometheus collector for the statistics service: the last run as one consistent snapshot."""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from mlmon.jobs import LatestRun
from stats_service.evaluation import ALL
from stats_service.run import StatsRun


class StatsCollector(LatestRun[StatsRun]):
    def collect(self) -> Iterable[Metric]:
        run = self.latest()
        if run is None:
            return
        model = run.model
        stat = GaugeMetricFamily(
            "mlmon_feature_stat",
            "Window statistic of a feature or the output",
            labels=["model", "window", "feature", "stat"],
        )
        responses = GaugeMetricFamily(
            "mlmon_response_share", "Share of responses by kind in the window", labels=["model", "window", "kind"]
        )
        traffic = GaugeMetricFamily(
            "mlmon_traffic_change_ratio",
            "Prediction volume against the same window `offset` earlier, minus 1",
            labels=["model", "window", "offset"],
        )
        evaluation = GaugeMetricFamily(
            "mlmon_eval_metric",
            "Evaluation metric on the newest mature window",
            labels=["model", "model_version", "metric", "segment", "window"],
        )
        coverage = GaugeMetricFamily(
            "mlmon_label_coverage_ratio",
            "Share of predictions with a label",
            labels=["model", "model_version", "window"],
        )
        lag = GaugeMetricFamily(
            "mlmon_label_lag_seconds", "Median seconds from prediction to label", labels=["model", "window"]
        )
        rows = GaugeMetricFamily("mlmon_window_predictions", "Predictions in the window", labels=["model", "window"])
        for report in run.windows:
            rows.add_metric([model, report.name], report.rows)
            for feature, values in report.features.items():
                for key, value in values.items():
                    if math.isfinite(value):
                        stat.add_metric([model, report.name, feature, key], value)
            for key, value in report.responses.items():
                responses.add_metric([model, report.name, key.removesuffix("_share")], value)
            if report.traffic is not None:
                for offset, ratio in report.traffic.change_ratio.items():
                    if ratio is not None and math.isfinite(ratio):
                        traffic.add_metric([model, report.name, offset], ratio)
            lags = []
            for result in report.evaluation:
                if result.model_version is None:  # no predictions in the window
                    continue
                if result.status == "ok":
                    for metric, value in result.metrics.items():
                        if math.isfinite(value):
                            evaluation.add_metric(
                                [model, result.model_version, metric, result.segment, report.name], value
                            )
                if result.segment == ALL:
                    coverage.add_metric([model, result.model_version, report.name], result.coverage)
                    if result.label_lag_s is not None:
                        lags.append(result.label_lag_s)
            if lags:
                lag.add_metric([model, report.name], max(lags))
        slo = GaugeMetricFamily(
            "mlmon_slo_breach",
            "1 when the SLO is breached, 0 when it holds",
            labels=["model", "slo", "metric", "severity"],
        )
        for slo_result in run.slos:
            if slo_result.value is not None:
                slo.add_metric(
                    [model, slo_result.name, slo_result.slo.metric, slo_result.slo.severity],
                    1.0 if slo_result.breached else 0.0,
                )
        yield from (stat, responses, traffic, evaluation, coverage, lag, rows, slo)
