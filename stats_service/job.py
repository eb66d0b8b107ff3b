"""One statistics run per model: window statistics, golden signals and traffic change, evaluation with delayed
labels, SLOs and response heuristics → collector, a report document in the store, findings for the model's
incident (``stats_service.findings``).

For each configured window length ``w`` (default 1h and 1d):
- statistics and response shares over the current window ``[now - w, now)``;
- evaluation over the newest *mature* window ``[now - delay - w, now - delay)`` (labels had time to arrive);
  the current window is reported as immature;
- Prometheus over ``w`` with ``offset`` comparisons; when Prometheus is unreachable, the store-based part
  still runs and the report says what could not be checked.
SLOs are evaluated on the first (shortest) window.

The service also applies the store's retention (old daily indices / rows), at most once per hour
(``stats_service.retention``); a failure there is counted and noted, and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.baseline.profile import BaselineProfile
from mlmon.errors import StoreUnavailable
from mlmon.jobs import JobHealth, job_parts
from mlmon.notify.findings import Contribution, Finding
from mlmon.notify.tracker import IncidentTracker
from mlmon.promql import PrometheusClient
from mlmon.registry.artifact import read_registered
from mlmon.settings import StatsSettings, parse_duration
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceStore, TimeWindow
from mlmon.store.fields import LABEL, DocField
from stats_service.collector import StatsCollector
from stats_service.evaluation import ALL, evaluate, valid_labels
from stats_service.findings import (
    VersionEvaluation,
    evaluations,
    label_findings,
    slo_findings,
    traffic_findings,
    version_findings,
)
from stats_service.retention import RetentionSchedule
from stats_service.run import StatsRun, WindowReport, to_record
from stats_service.slo import evaluate_slos
from stats_service.traffic import query_traffic
from stats_service.window_stats import response_shares, window_statistics

log = logging.getLogger(__name__)


@dataclass
class StatsJob:
    settings: StatsSettings
    spec: ModelSpec
    store: InferenceStore
    health: JobHealth
    collector: StatsCollector
    prometheus: PrometheusClient | None = None
    incidents: IncidentTracker | None = None
    clock: Callable[[], float] = time.time
    retention: RetentionSchedule = field(default_factory=RetentionSchedule)
    versions: dict[str, VersionEvaluation] | None = None  # last evaluation per model version (seeded from reports)

    def _serving(self) -> tuple[str, BaselineProfile]:
        profile = read_registered(self.settings.model_dir(self.spec.model)).profile
        return profile.model_version, profile

    def close(self) -> None:
        self.store.close()
        if self.prometheus is not None:
            self.prometheus.close()

    def run_once(self, now: datetime | None = None) -> StatsRun:
        now = now or datetime.fromtimestamp(self.clock(), UTC)
        version, profile = self._serving()
        self.health.model_version = version
        run = StatsRun(model=self.spec.model, version=version, at=now)
        run.retention, note = self.retention.run(self.store, self.health, now)
        if note:
            run.notes.append(note)
        if self.prometheus is None:
            run.notes.append("Prometheus not configured: request rate, error ratio, latency and traffic change skipped")
        segments = list(self.spec.segments)
        for name in self.settings.windows:
            seconds = parse_duration(name)
            window = TimeWindow.last(seconds, end=now)
            try:
                report = self._window(name, window, profile, segments, now)
            except StoreUnavailable:
                self.health.backend_error(self.store.backend)
                raise
            run.windows.append(report)
            if report.traffic is not None and report.traffic.error:
                self.health.backend_error("prometheus")
                run.notes.append(f"Prometheus unreachable for {name}: {report.traffic.error}")
            if report.rows == 0:
                run.notes.append(f"no traffic in the last {name}")
            run.notes.extend(self._label_notes(name, report))
        run.slos = evaluate_slos(self.spec.slos, self._measured(run))
        run.findings = self._findings(run, profile)
        self._publish(run)
        return run

    def _window(
        self, name: str, window: TimeWindow, profile: BaselineProfile, segments: list[str], now: datetime
    ) -> WindowReport:
        rows = self.store.count(window)
        report = WindowReport(name=name, window=window, rows=rows)
        report.features = window_statistics(self.store, self.spec, profile, window, rows)
        report.responses = response_shares(self.store.response_counts(window)) if rows else {}
        delay = self.settings.label_delay_s
        report.eval_window = window.shift(delay) if delay > 0 else window
        mature_rows = self.store.labelled_predictions(report.eval_window, extra_fields=segments)
        report.evaluation = evaluate(self.spec, mature_rows, mature=True, min_labels=self.settings.min_labels)
        if delay > 0:
            current = self.store.labelled_predictions(window, extra_fields=segments)
            report.current_evaluation = evaluate(self.spec, current, mature=False, min_labels=self.settings.min_labels)
        report.label_shares, report.labelled = self._label_shares(mature_rows, profile.model_version)
        if self.prometheus is not None:
            report.traffic = query_traffic(
                self.prometheus, self.spec.model, self.spec.serving.routes, name, self.settings.traffic_offsets, now
            )
        return report

    def _label_notes(self, name: str, report: WindowReport) -> list[str]:
        """What a reader of the report needs to trust (or not) the evaluation of this window."""
        notes = []
        expected = (
            f"one of the classes {', '.join(self.spec.prediction.classes or [])}"
            if self.spec.prediction.kind == "classification"
            else "a number"
        )
        for result in report.evaluation:
            if result.segment != ALL:
                continue
            if result.invalid_labels:
                notes.append(
                    f"{name}: {result.invalid_labels} label(s) of version {result.model_version} are not "
                    f"{expected}; excluded from the metrics"
                )
            if result.status == "insufficient_labels":
                notes.append(
                    f"{name}: {result.labelled} usable label(s) for {result.predictions} predictions of version "
                    f"{result.model_version} in the mature window, fewer than min_labels={self.settings.min_labels}: "
                    "no evaluation metrics"
                )
        return notes

    def _measured(self, run: StatsRun) -> dict[str, tuple[float | None, str]]:
        if not run.windows:
            return {}
        first = run.windows[0]
        measured: dict[str, tuple[float | None, str]] = {}
        overall = next((r for r in first.evaluation if r.segment == ALL and r.model_version == run.version), None)
        if overall is not None:
            for metric, value in overall.metrics.items():
                measured[metric] = (
                    value,
                    f"labels of {first.eval_window.start:%H:%M}..{first.eval_window.end:%H:%M}"
                    if first.eval_window
                    else "labels",
                )
            measured["label_coverage"] = (overall.coverage, "labels")
        for key in ("empty_share", "fallback_share"):
            if key not in first.responses:
                continue
            # A share over a handful of responses is noise, not a breach (4% of 50 rows is 2 answers).
            if first.rows >= self.settings.min_rows:
                measured[key] = (first.responses[key], "store")
            else:
                run.notes.append(
                    f"{key} not judged: {first.rows} responses in the last {first.name}, "
                    f"fewer than MLMON_MIN_ROWS={self.settings.min_rows} (lengthen MLMON_WINDOWS or lower it)"
                )
        traffic = first.traffic
        if traffic is not None and traffic.p95_latency_ms is not None:
            measured["p95_latency_ms"] = (traffic.p95_latency_ms, "prometheus")
        else:
            latency = self.store.numeric_summaries(first.window, [DocField.LATENCY_MS], [95.0]).get(DocField.LATENCY_MS)
            if latency is not None and latency.percentiles.get(95.0) is not None:
                measured["p95_latency_ms"] = (latency.percentiles[95.0], "store (model latency only)")
        if traffic is not None and traffic.error_ratio is not None:
            measured["error_ratio"] = (traffic.error_ratio, "prometheus")
        return measured

    def _label_shares(self, rows: Any, version: str) -> tuple[dict[str, float], int]:
        """Observed class shares of the serving version's usable labels (classification only)."""
        if self.spec.prediction.kind != "classification" or rows.empty:
            return {}, 0
        mine = rows[(rows[DocField.MODEL_VERSION] == version) & rows[LABEL].notna()]
        labels = mine[LABEL][valid_labels(self.spec, mine[LABEL])].astype(str)
        if labels.empty:
            return {}, 0
        return {str(k): float(v) for k, v in labels.value_counts(normalize=True).items()}, len(labels)

    def _previous_versions(self) -> dict[str, VersionEvaluation]:
        """The last evaluation of each model version: remembered, and seeded from the stored reports at start."""
        if self.versions is None:
            self.versions = {}
            try:
                reports = self.store.latest_reports("stats", limit=50)
            except StoreUnavailable:
                reports = []
            for body in reversed(reports):  # oldest first: newer evaluations replace older ones
                at = datetime.fromisoformat(body["@timestamp"]).timestamp() if body.get("@timestamp") else 0.0
                for window in body.get("windows", [])[:1]:
                    for r in window.get("evaluation", []):
                        if (
                            r.get("segment") == ALL
                            and r.get("status") == "ok"
                            and r.get("metrics")
                            and r.get("model_version")
                        ):
                            self.versions[r["model_version"]] = VersionEvaluation(r["model_version"], at, r["metrics"])
        return self.versions

    def _findings(self, run: StatsRun, profile: BaselineProfile) -> list[Finding]:
        previous = self._previous_versions()
        current = {e.version: e for e in evaluations(run)}  # this window's versions (same traffic)
        findings = slo_findings(run)
        findings += version_findings(run, {**previous, **current}, run.at.timestamp())
        findings += label_findings(self.spec, profile, run, self.settings.min_labels)
        findings += traffic_findings(run, self.settings.traffic_change_threshold)
        previous.update(current)
        return findings

    def _publish(self, run: StatsRun) -> None:
        self.collector.update(run)
        try:
            self.store.write_report(to_record(run))
        except StoreUnavailable as exc:
            self.health.backend_error(self.store.backend)
            log.warning("statistics report not stored: %s", exc)
        if self.incidents is None or not run.windows:
            return
        self.incidents.report(self.contribution(run))

    def contribution(self, run: StatsRun) -> Contribution:
        """The run as the statistics service's part of the model's incident."""
        window = run.windows[0].window
        return Contribution(
            service="stats",
            model=run.model,
            model_version=run.version,
            window_start=window.start,
            window_end=window.end,
            findings=tuple(run.findings),
            runbook=self.spec.runbook or "",  # Kibana and Grafana links: the email builds them for the window
            interval_s=self.settings.interval_s,
            at=run.at,
        )


def build_stats_job(
    settings: StatsSettings, registry: CollectorRegistry, *, store: InferenceStore | None = None
) -> StatsJob:
    """Wire a job from settings: store, Prometheus client and incident tracker (email)."""
    collector = StatsCollector()
    parts = job_parts("stats", settings, registry, collector, store=store)
    return StatsJob(
        settings=settings,
        spec=parts.spec,
        store=parts.store,
        health=parts.health,
        collector=collector,
        prometheus=parts.prometheus,
        incidents=parts.incidents,
    )
