"""Writes the Grafana dashboards of ``grafana/dashboards/`` (one JSON file each).

Run ``python grafana/build_dashboards.py`` after editing; a unit test fails when the committed JSON differs
from what this script writes, runs every query through ``promtool`` and checks each metric name against the
list of metrics mlmon exports. Queries use only Grafana's own variables (``$__rate_interval``, ``$__range``)
and the template variables defined here, always inside label matchers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "prometheus"}  # grafana/provisioning/datasources/prometheus.yml
RATE = "$__rate_interval"
M = 'model="$model"'
MV = 'model="$model",model_version=~"$model_version"'


def _target(
    expr: str, legend: str = "", ref: str = "A", fmt: str | None = None, instant: bool = False
) -> dict[str, Any]:
    target: dict[str, Any] = {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
    }
    if fmt:
        target["format"] = fmt
    return target


class Board:
    """Lays panels out left to right on Grafana's 24-column grid."""

    def __init__(
        self, uid: str, title: str, description: str, variables: list[dict[str, Any]], time_from: str = "now-6h"
    ) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.variables, self.time_from = variables, time_from
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = self._row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "id": len(self.panels) + 1,
                "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1},
            }
        )
        self._y += 1

    def _newline(self) -> None:
        self._y += self._row_h
        self._x = self._row_h = 0

    def add(
        self,
        type_: str,
        title: str,
        targets: list[dict[str, Any]],
        description: str,
        w: int = 12,
        h: int = 8,
        unit: str = "short",
        options: dict[str, Any] | None = None,
        field_config: dict[str, Any] | None = None,
    ) -> None:
        if self._x + w > 24:
            self._newline()
        defaults: dict[str, Any] = {"unit": unit, **(field_config or {})}
        refs = "ABCDEFGH"
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": type_,
                "title": title,
                "description": description,
                "datasource": DS,
                "gridPos": {"x": self._x, "y": self._y, "w": w, "h": h},
                "targets": [{**t, "refId": refs[i]} for i, t in enumerate(targets)],
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "options": options
                or {
                    "legend": {"displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
            }
        )
        self._x += w
        self._row_h = max(self._row_h, h)

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["mlmon"],
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "browser",
            "annotations": {"list": []},
            "links": [
                {
                    "type": "dashboards",
                    "tags": ["mlmon"],
                    "asDropdown": True,
                    "title": "mlmon",
                    "includeVars": True,
                    "keepTime": True,
                }
            ],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def query_var(name: str, label: str, metric: str, multi: bool = False) -> dict[str, Any]:
    query = f"label_values({metric}, {label})"
    var: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }
    if multi:
        var["allValue"] = ".*"
    return var


def model_vars(metric: str) -> list[dict[str, Any]]:
    return [
        query_var("model", "model", metric),
        query_var("model_version", "model_version", f'{metric}{{model="$model"}}', multi=True),
    ]


def _stat_options() -> dict[str, Any]:
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "textMode": "auto",
        "justifyMode": "auto",
    }


def overview() -> Board:
    """Where the notification emails link to (``mlmon.notify.links.GRAFANA_DASHBOARD_UID``)."""
    b = Board(
        "mlmon-overview",
        "mlmon: overview",
        "One screen per model: is the service healthy, did the outputs or inputs drift, are the SLOs "
        "met, is the monitoring running. The other mlmon dashboards (top right) have the details.",
        model_vars("mlmon_requests_total"),
    )
    b.add(
        "stat",
        "Requests per second",
        [_target(f"sum(rate(mlmon_requests_total{{{MV}}}[{RATE}]))", "req/s")],
        "All endpoints.",
        w=6,
        h=5,
        unit="reqps",
        options=_stat_options(),
    )
    b.add(
        "stat",
        "Error ratio (5xx)",
        [
            _target(
                f'sum(rate(mlmon_requests_total{{{MV},status=~"5.."}}[{RATE}])) '
                f"/ sum(rate(mlmon_requests_total{{{MV}}}[{RATE}]))",
                "5xx",
            )
        ],
        "Share of requests answered with a server error.",
        w=6,
        h=5,
        unit="percentunit",
        options=_stat_options(),
    )
    b.add(
        "stat",
        "p95 latency",
        [
            _target(
                f"histogram_quantile(0.95, sum by (le) (rate(mlmon_request_duration_seconds_bucket{{{MV}}}[{RATE}])))",
                "p95",
            )
        ],
        "95th percentile of the request duration, all endpoints.",
        w=6,
        h=5,
        unit="s",
        options=_stat_options(),
    )
    b.add(
        "stat",
        "Fallback + empty share",
        [
            _target(
                f'sum(rate(mlmon_responses_total{{{MV},kind=~"fallback|empty"}}[{RATE}])) '
                f"/ sum(rate(mlmon_responses_total{{{MV}}}[{RATE}]))",
                "fallback + empty",
            )
        ],
        "Answers that were not a normal model output.",
        w=6,
        h=5,
        unit="percentunit",
        options=_stat_options(),
    )
    b.add(
        "timeseries",
        "Output drift score",
        [_target(f'mlmon_drift_score{{{MV},role="output"}}', "{{feature}} {{method}} ({{source}})")],
        "Drift of the scores and of the class shares against the training baseline.",
    )
    b.add(
        "timeseries",
        "Features with detected drift",
        [_target(f"sum by (role) (mlmon_drift_detected{{{MV}}})", "{{role}}")],
        "How many features (input), outputs or quality signals drift right now; details on the drift dashboard.",
        field_config={"decimals": 0},
    )
    b.add(
        "timeseries",
        "Evaluation metrics",
        [_target(f"mlmon_eval_metric{{{MV}}}", "{{metric}} {{model_version}} {{segment}} ({{window}})")],
        "Metrics from the delayed ground truth (POST /feedback).",
    )
    b.add(
        "timeseries",
        "SLOs breached",
        [_target(f"sum by (severity) (mlmon_slo_breach{{{M}}})", "{{severity}}")],
        "Number of breached SLOs of the model spec, by severity.",
        field_config={"decimals": 0},
    )
    b.add(
        "timeseries",
        "Monitor staleness (intervals since last success)",
        [
            _target(
                f"(time() - max by (job) (mlmon_job_last_success_timestamp_seconds{{{M}}})) "
                f"/ max by (job) (mlmon_job_interval_seconds{{{M}}})",
                "{{job}}",
            )
        ],
        "Above 2-3 the statistics or drift job is stuck or failing.",
        w=24,
        h=6,
    )
    return b


def golden_signals() -> Board:
    b = Board(
        "mlmon-golden-signals",
        "mlmon: golden signals",
        "Traffic, errors, latency and saturation of the model server.",
        model_vars("mlmon_requests_total"),
    )
    b.add(
        "timeseries",
        "Requests per second by endpoint",
        [_target(f"sum by (endpoint) (rate(mlmon_requests_total{{{MV}}}[{RATE}]))", "{{endpoint}}")],
        "Traffic: requests per second, by endpoint.",
        unit="reqps",
    )
    b.add(
        "timeseries",
        "Error ratio (5xx)",
        [
            _target(
                f'sum(rate(mlmon_requests_total{{{MV},status=~"5.."}}[{RATE}])) '
                f"/ sum(rate(mlmon_requests_total{{{MV}}}[{RATE}]))",
                "5xx share",
            )
        ],
        "Share of requests answered with a server error.",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Client errors (4xx) per second",
        [
            _target(
                f'sum by (endpoint, status) (rate(mlmon_requests_total{{{MV},status=~"4.."}}[{RATE}]))',
                "{{endpoint}} {{status}}",
            )
        ],
        "Rejected requests: invalid input (422), too large (413), unauthorised feedback (401/403).",
        unit="reqps",
    )
    b.add(
        "timeseries",
        "Latency by endpoint (p50, p95, p99)",
        [
            _target(
                f"histogram_quantile({q}, sum by (le, endpoint) "
                f"(rate(mlmon_request_duration_seconds_bucket{{{MV}}}[{RATE}])))",
                f"p{pct} {{{{endpoint}}}}",
            )
            for q, pct in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
        ],
        "Request duration quantiles from the histogram; compare p95 with the latency SLO.",
        unit="s",
    )
    b.add(
        "timeseries",
        "Requests in flight",
        [_target(f"sum(mlmon_requests_in_flight{{{MV}}})", "in flight")],
        "Saturation: requests being processed right now.",
    )
    b.add(
        "timeseries",
        "Traffic change vs. 1 day / 1 week ago",
        [_target(f"mlmon_traffic_change_ratio{{{M}}}", "{{window}} vs. {{offset}} ago")],
        "Relative change of the request volume against the same window a day and a week earlier "
        "(statistics service): 0 = same traffic, -0.5 = half.",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Inference log backlog",
        [
            _target(f"sum(mlmon_inference_queue_depth{{{M}}})", "events not shipped"),
            _target(f"sum(mlmon_inference_log_bytes{{{M}}})", "log bytes"),
        ],
        "Saturation of the inference log: events in the local log not yet shipped to the store, and its size.",
        field_config={"custom": {"axisSoftMin": 0}},
    )
    return b


def outputs() -> Board:
    b = Board(
        "mlmon-outputs",
        "mlmon: model outputs",
        "Distribution of the model's scores and classes, response quality (empty and fallback "
        "answers) and output drift.",
        model_vars("mlmon_prediction_count"),
    )
    sel = f"mlmon_prediction_bucket{{{MV}}}"
    b.add(
        "heatmap",
        "Score distribution over time",
        [_target(f"sum by (le) (increase({sel}[{RATE}]))", "{{le}}", fmt="heatmap")],
        "Predictions per score bin (bins = the training scores' quantile edges, so each bin held the same "
        "share at training time).",
        w=24,
        h=9,
        options={
            "calculate": False,
            "yAxis": {"axisPlacement": "left"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "steps": 64},
            "rowsFrame": {"layout": "auto"},
            "legend": {"show": True},
            "tooltip": {"show": True},
        },
    )
    b.add(
        "bargauge",
        "Score distribution, selected time range",
        [_target(f"sum by (le) (increase({sel}[$__range]))", "{{le}}", fmt="heatmap", instant=True)],
        "Predictions per score bin over the whole time range; with baseline quantile bins a healthy model "
        "fills them evenly.",
        options={
            "displayMode": "basic",
            "orientation": "vertical",
            "showUnfilled": True,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    )
    b.add(
        "timeseries",
        "Mean score",
        [
            _target(
                f"sum(rate(mlmon_prediction_sum{{{MV}}}[{RATE}])) / sum(rate(mlmon_prediction_count{{{MV}}}[{RATE}]))",
                "mean score",
            )
        ],
        "Average predicted score (positive-class probability or regression output).",
    )
    b.add(
        "timeseries",
        "Predicted class shares",
        [
            _target(
                f"sum by (class) (rate(mlmon_predicted_class_total{{{MV}}}[{RATE}])) / ignoring(class) group_left "
                f"sum(rate(mlmon_predicted_class_total{{{MV}}}[{RATE}]))",
                "{{class}}",
            )
        ],
        "Share of each predicted class.",
        unit="percentunit",
        field_config={"custom": {"stacking": {"mode": "normal"}, "fillOpacity": 40}},
    )
    b.add(
        "timeseries",
        "Response kinds (empty, fallback)",
        [
            _target(
                f"sum by (kind) (rate(mlmon_responses_total{{{MV}}}[{RATE}])) / ignoring(kind) group_left "
                f"sum(rate(mlmon_responses_total{{{MV}}}[{RATE}]))",
                "{{kind}}",
            )
        ],
        "Heuristic quality: share of answers that were empty (post-processing filtered everything) or a "
        "fallback instead of the model's output.",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Non-finite predictions",
        [_target(f"sum(increase(mlmon_nonfinite_predictions_total{{{MV}}}[{RATE}]))", "NaN / Inf")],
        "Scores that were NaN or infinite: always a bug.",
    )
    b.add(
        "timeseries",
        "Output drift score",
        [_target(f'mlmon_drift_score{{{MV},role="output"}}', "{{feature}} {{method}} ({{source}})")],
        "Drift of the score distribution (feature=prediction) and of the class shares "
        "(feature=predicted_class) against the training baseline (drift detector).",
        w=24,
    )
    return b


def inputs_drift() -> Board:
    feature = query_var("feature", "feature", 'mlmon_drift_score{model="$model",role="input"}', multi=True)
    stat = query_var("stat", "stat", 'mlmon_feature_stat{model="$model"}', multi=True)
    b = Board(
        "mlmon-drift",
        "mlmon: drift and inputs",
        "Input drift against the training baseline, with the input counters of the model server "
        "(missing, out-of-range, categories) for the root cause.",
        [*model_vars("mlmon_drift_score"), feature, stat],
        time_from="now-24h",
    )
    f = 'feature=~"$feature"'
    b.add(
        "timeseries",
        "Input drift score by feature",
        [_target(f'max by (feature, method) (mlmon_drift_score{{{MV},role="input",{f}}})', "{{feature}} ({{method}})")],
        "Effect size of each feature's drift test (PSI, Jensen–Shannon, normalised Wasserstein, ...).",
    )
    b.add(
        "state-timeline",
        "Drift detected",
        [_target(f"max by (feature, role) (mlmon_drift_detected{{{MV}}})", "{{role}} {{feature}}")],
        "1 = the drift detector decided the feature drifted (effect size above threshold, significant "
        "after Benjamini–Hochberg, for consecutive windows).",
        field_config={
            "mappings": [
                {
                    "type": "value",
                    "options": {"0": {"text": "ok", "color": "green"}, "1": {"text": "drift", "color": "red"}},
                }
            ],
            "color": {"mode": "thresholds"},
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
            },
        },
        options={
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        },
    )
    b.add(
        "timeseries",
        "Drift test p-values",
        [
            _target(
                f'min by (feature, method) (mlmon_drift_p_value{{{MV},role="input",{f}}})', "{{feature}} ({{method}})"
            )
        ],
        "p-values of the drift tests; with large windows nearly everything is significant, which is why "
        "decisions use the effect size.",
        field_config={"custom": {"scaleDistribution": {"type": "log", "log": 10}}},
    )
    b.add(
        "timeseries",
        "Missing-value share by feature",
        [
            _target(
                f"sum by (feature) (rate(mlmon_feature_missing_total{{{M},{f}}}[{RATE}])) / ignoring(feature) "
                f"group_left sum(rate(mlmon_prediction_count{{{M}}}[{RATE}]))",
                "{{feature}}",
            )
        ],
        "Share of predicted rows where the input was missing (fill-rate drops show up here first).",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Out-of-range share by feature",
        [
            _target(
                f"sum by (feature) (rate(mlmon_feature_out_of_range_total{{{M},{f}}}[{RATE}])) / ignoring(feature) "
                f"group_left sum(rate(mlmon_prediction_count{{{M}}}[{RATE}]))",
                "{{feature}}",
            )
        ],
        "Share of predicted rows whose value is outside the spec's range (e.g. a unit change).",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Category shares",
        [
            _target(
                f"sum by (feature, category) (rate(mlmon_feature_category_total{{{M},{f}}}[{RATE}])) "
                f"/ ignoring(category) group_left sum by (feature) (rate(mlmon_feature_category_total{{{M},{f}}}"
                f"[{RATE}]))",
                "{{feature}}={{category}}",
            )
        ],
        "Share of each category per categorical feature; __other__ counts values unseen in training.",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Window statistics",
        [_target(f'mlmon_feature_stat{{{M},{f},stat=~"$stat"}}', "{{feature}} {{stat}} ({{window}})")],
        "Per-window statistics of each feature computed in the inference store (statistics service).",
        w=24,
    )
    return b


def evaluation() -> Board:
    metric = query_var("metric", "metric", 'mlmon_eval_metric{model="$model"}', multi=True)
    segment = query_var("segment", "segment", 'mlmon_eval_metric{model="$model"}', multi=True)
    b = Board(
        "mlmon-evaluation",
        "mlmon: evaluation with delayed labels",
        "Evaluation metrics from the ground truth sent to POST /feedback, label coverage and the "
        'SLOs ("fear signals") of the model spec.',
        [*model_vars("mlmon_eval_metric"), metric, segment],
        time_from="now-7d",
    )
    sel = f'{MV},metric=~"$metric",segment=~"$segment"'
    b.add(
        "timeseries",
        "Evaluation metrics",
        [_target(f"mlmon_eval_metric{{{sel}}}", "{{metric}} {{model_version}} {{segment}} ({{window}})")],
        "Metrics of predictions whose labels have arrived, per model version, segment and window.",
        w=24,
        h=10,
    )
    b.add(
        "state-timeline",
        "SLO breaches",
        [_target(f"max by (slo, severity) (mlmon_slo_breach{{{M}}})", "{{slo}} ({{severity}})")],
        "1 = the SLO of the model spec is breached.",
        field_config={
            "mappings": [
                {
                    "type": "value",
                    "options": {"0": {"text": "ok", "color": "green"}, "1": {"text": "breached", "color": "red"}},
                }
            ],
            "color": {"mode": "thresholds"},
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
            },
        },
        options={
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        },
        w=24,
    )
    b.add(
        "timeseries",
        "Label coverage",
        [_target(f"mlmon_label_coverage_ratio{{{MV}}}", "{{model_version}} ({{window}})")],
        "Share of mature predictions that have a label; metrics on low coverage are noisy.",
        unit="percentunit",
    )
    b.add(
        "timeseries",
        "Label lag",
        [_target(f"mlmon_label_lag_seconds{{{M}}}", "label lag ({{window}})")],
        "How long ground truth takes to arrive after the prediction.",
        unit="s",
    )
    return b


def monitor_health() -> Board:
    b = Board(
        "mlmon-health",
        "mlmon: monitor health",
        "Is the monitoring itself working: job runs, notifications, the inference log and backends.",
        [query_var("model", "model", "mlmon_job_runs_total")],
        time_from="now-24h",
    )
    b.add(
        "stat",
        "Since last successful run",
        [_target(f"time() - max by (job) (mlmon_job_last_success_timestamp_seconds{{{M}}})", "{{job}}", instant=True)],
        "Seconds since the statistics and drift jobs last succeeded.",
        w=8,
        unit="s",
        options={**_stat_options(), "colorMode": "background", "graphMode": "none", "textMode": "value_and_name"},
    )
    b.add(
        "timeseries",
        "Staleness (intervals since last success)",
        [
            _target(
                f"(time() - max by (job) (mlmon_job_last_success_timestamp_seconds{{{M}}})) "
                f"/ max by (job) (mlmon_job_interval_seconds{{{M}}})",
                "{{job}}",
            )
        ],
        "Above 2-3 the job is stuck or failing (the stale-monitor alert fires).",
        w=8,
        field_config={
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 3}],
            },
            "custom": {"thresholdsStyle": {"mode": "line"}},
        },
    )
    b.add(
        "timeseries",
        "Job duration",
        [_target(f"max by (job) (mlmon_job_duration_seconds{{{M}}})", "{{job}}")],
        "Duration of the last run of each job.",
        w=8,
        unit="s",
    )
    b.add(
        "timeseries",
        "Job runs by outcome",
        [_target(f"sum by (job, outcome) (increase(mlmon_job_runs_total{{{M}}}[{RATE}]))", "{{job}} {{outcome}}")],
        "Successful and failed runs of the statistics and drift jobs.",
    )
    b.add(
        "timeseries",
        "Notifications by outcome",
        [_target(f"sum by (outcome) (increase(mlmon_notifications_total{{{M}}}[{RATE}]))", "{{outcome}}")],
        "Emails sent, suppressed (grouping, cooldown), retried and failed.",
    )
    b.add(
        "timeseries",
        "Inference events by outcome",
        [_target(f"sum by (outcome) (rate(mlmon_inference_events_total{{{M}}}[{RATE}]))", "{{outcome}}")],
        "Events stored in the inference store, spooled (waited in the local log during an outage), dropped, "
        "refused (503) or dead-lettered (refused by the store).",
        unit="ops",
    )
    b.add(
        "timeseries",
        "Inference log lag and size",
        [
            _target(f"sum(mlmon_inference_queue_depth{{{M}}})", "events not shipped"),
            _target(f"sum(mlmon_inference_log_bytes{{{M}}})", "log bytes"),
        ],
        "Events in the local inference log not yet shipped to the store, and the bytes of the log on disk.",
    )
    b.add(
        "timeseries",
        "Backend errors",
        [_target(f"sum by (backend) (increase(mlmon_backend_errors_total{{{M}}}[{RATE}]))", "{{backend}}")],
        "Failed calls to Elasticsearch, SQLite, Prometheus, SMTP and Feast; the services degrade instead of crashing.",
        w=24,
    )
    return b


BOARDS = {
    "mlmon-overview.json": overview,
    "mlmon-golden-signals.json": golden_signals,
    "mlmon-outputs.json": outputs,
    "mlmon-drift.json": inputs_drift,
    "mlmon-evaluation.json": evaluation,
    "mlmon-health.json": monitor_health,
}


def render_all() -> dict[str, str]:
    return {name: json.dumps(make().to_json(), indent=2, ensure_ascii=False) + "\n" for name, make in BOARDS.items()}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
