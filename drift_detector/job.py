"""One drift run per model: baseline → current window → output first, then inputs → decide → publish.

Only the serving version's rows are compared with its baseline (right after a deploy the window also holds
rows of the previous version, which would look like drift); the report says how many rows were left out.
The window's data comes the cheapest way that is still exact (``MLMON_DRIFT_COUNTS``), and the run says which
(``run.path``, ``run.source``): raw values (exact KS) from the store when the window holds at most
``exact_ks_max_rows`` predictions; above, the counts the model server recorded at serve time on the baseline's
fixed bins, read from Prometheus (``drift_detector.serve_counts``: features × bins numbers, the window size
included, so the run costs the same at 10k and 10M rows); without usable serve-time counts (Prometheus not
configured, unreachable, without samples, or other edges than the baseline's) the counts pushed down to the
store (SQLite ``GROUP BY`` / Elasticsearch aggregations: bytes flat, time linear in the rows scanned).
On the store's paths the served output distribution is also read from Prometheus
(``increase(mlmon_prediction_bucket[window])``) and reported next to the store's; when Prometheus is
unreachable the run goes on and says so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from drift_detector.baseline_cache import BaselineCache, ServingBaseline
from drift_detector.collector import DriftCollector
from drift_detector.integrity import NEW_CATEGORY_SHARE, Break, fingerprint
from drift_detector.report_html import write_html_report
from drift_detector.run import DriftRun, to_record
from drift_detector.serve_counts import CountsUnusable, ServeCounts, ServeCountsReader
from mlmon.atomic import write_text_atomic
from mlmon.errors import BackendUnavailable, BaselineNotFound, StoreUnavailable
from mlmon.jobs import JobHealth, job_parts
from mlmon.notify.findings import Contribution
from mlmon.notify.tracker import IncidentTracker
from mlmon.promql import PrometheusClient, histogram_bins
from mlmon.settings import DriftSettings, parse_duration
from mlmon.stats.baseline import PREDICTED_CLASS, PREDICTION, Baseline, CategoricalBaseline, NumericBaseline
from mlmon.stats.decision import decide
from mlmon.stats.engine import compare
from mlmon.store.base import BinnedCounts, BinSpec, CategoryBins, InferenceStore, NumericBins, TimeWindow
from mlmon.store.fields import DocField

log = logging.getLogger(__name__)

_UNREACHABLE = "Prometheus unreachable"
# The store fields (and frame columns) that carry the output, binned like features.
_STORE_FIELD: dict[str, str] = {PREDICTION: DocField.SCORE, PREDICTED_CLASS: DocField.PREDICTED_LABEL}


@dataclass
class DriftJob:
    settings: DriftSettings
    store: InferenceStore
    baselines: BaselineCache
    collector: DriftCollector
    health: JobHealth
    prometheus: PrometheusClient | None = None
    incidents: IncidentTracker | None = None
    clock: Callable[[], float] = time.time

    def close(self) -> None:
        self.store.close()
        if self.prometheus is not None:
            self.prometheus.close()

    @property
    def state_path(self) -> Path:
        return self.settings.var_dir / "state" / f"drift-streaks-{self.health.model}.json"

    def _load_history(self) -> dict[str, int]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            return {str(k): int(v) for k, v in data.items()}
        except (OSError, ValueError):
            return {}

    def run_once(self, now: datetime | None = None) -> DriftRun:
        now = now or datetime.fromtimestamp(self.clock(), UTC)
        window = TimeWindow.last(parse_duration(self.settings.window), end=now)
        try:
            baseline = self.baselines.current()
        except BaselineNotFound:
            self.health.backend_error("registry")
            raise
        version = baseline.version
        self.health.model_version = version
        source_notes: list[str] = []
        served = self._serve_time(baseline, window, source_notes)
        if served is not None:
            rows, others = served.rows.rows, served.rows.others
        else:
            try:
                rows = self.store.count(window, model_version=version)
                others = max(0, self.store.count(window) - rows)  # rows written between the two counts
            except StoreUnavailable:
                self.health.backend_error(self.store.backend)
                raise
        run = DriftRun(
            model=baseline.model, version=version, window=window, rows=rows, status="ok", other_version_rows=others
        )
        run.notes.extend(source_notes)
        if served is not None:
            run.path, run.source = "binned", "prometheus"
        run.importance = dict(baseline.registered.importance)
        run.units = {f.name: f.unit or "" for f in baseline.spec.features}
        if others:
            run.notes.append(
                f"{others} row(s) of other model versions in the window left out: only version {version}'s "
                f"{rows} row(s) are compared with its baseline"
            )
        if rows < self.settings.min_rows:
            run.status = "insufficient_data"
            run.notes.append(
                f"{rows} rows of version {version} in the last {self.settings.window}, fewer than "
                f"MLMON_MIN_ROWS={self.settings.min_rows}: no decision (lengthen MLMON_WINDOW, or lower "
                "MLMON_MIN_ROWS: thresholds are calibrated to the window's size)"
            )
        else:
            current = served.current if served is not None else self._current(baseline, window, rows, run)
            overrides = {f.name: f.drift for f in baseline.spec.features if f.drift is not None}
            run.checks = compare(
                baseline.engine,
                current,
                rows=rows,
                alpha=self.settings.alpha,
                exact_max_rows=self.settings.exact_ks_max_rows,
                overrides=overrides,
            )
            self._add_means(baseline, window, run, served)
            if served is not None:
                _add_served_outside(run, served)
            run.breaks = self._breaks(run, window, version)
            run.decisions, history = decide(
                run.checks,
                consecutive=self.settings.consecutive,
                min_rows=self.settings.min_rows,
                history=self._load_history(),
                breaks=set(run.breaks),
            )
            write_text_atomic(self.state_path, json.dumps(history, sort_keys=True))
            if served is None:  # on the serve-time counts the output check already is Prometheus's
                run.prometheus_check = self._prometheus_output(baseline, run, counted=self._failed(source_notes))
            examples = self.store.read_window(window, fields=[], limit=5, model_version=version)
            run.example_ids = list(examples["prediction_id"])
        run.finished_at = datetime.fromtimestamp(self.clock(), UTC)
        run.report_path = str(write_html_report(run, baseline, self.settings.reports_path))
        self._publish(run, baseline)
        return run

    def _breaks(self, run: DriftRun, window: TimeWindow, version: str) -> dict[str, Break]:
        """Data-integrity breaks among the input checks (``drift_detector.integrity``); unseen categories are
        named from a sample of the window's values."""
        breaks: dict[str, Break] = {}
        serving = self.baselines.current()
        ranges = {f.name: f.range for f in serving.spec.features}
        for check in run.checks:
            unseen = check.cur_shares[-1] if check.kind != "numeric" and check.cur_shares else 0.0
            named = self._new_category(check.feature, window, version) if unseen >= NEW_CATEGORY_SHARE else None
            base = serving.engine.features.get(check.feature)
            numeric = base if isinstance(base, NumericBaseline) else None
            found = fingerprint(check, named, numeric, ranges.get(check.feature))
            if found is not None:
                breaks[check.key] = found
        return breaks

    def _new_category(self, feature: str, window: TimeWindow, version: str) -> tuple[str, float] | None:
        """The most frequent category unseen in training, and its share, in (a sample of) the window."""
        base = self.baselines.current().engine.features.get(feature)
        if not isinstance(base, CategoricalBaseline) or feature in _STORE_FIELD:
            return None  # the output's classes are the model's own: nothing new to name (and no input field)
        try:
            frame = self.store.read_window(window, fields=[feature], limit=5000, model_version=version)
        except StoreUnavailable:
            return None
        values = frame[feature].dropna().astype(str) if feature in frame.columns else None
        if values is None or values.empty:
            return None
        unseen = values[~values.isin(list(base.categories))]
        if unseen.empty:
            return None
        top = unseen.value_counts()
        return str(top.index[0]), float(top.iloc[0]) / len(frame)

    def _serve_time(self, baseline: ServingBaseline, window: TimeWindow, notes: list[str]) -> ServeCounts | None:
        """The window's serve-time counts from Prometheus when they are the source (``MLMON_DRIFT_COUNTS``),
        else None (the store's paths); a fallback is said in ``notes`` and Prometheus errors are counted."""
        mode = self.settings.drift_counts
        if mode == "store":
            return None
        if self.prometheus is None:
            if mode == "prometheus":
                notes.append("MLMON_DRIFT_COUNTS=prometheus but MLMON_PROMETHEUS_URL is not set: counts from the store")
            return None
        reader = ServeCountsReader(self.prometheus, baseline.model, baseline.version, self.settings.window, window.end)
        fallback = "window counts from the store instead of the serve-time counts"
        try:
            served = reader.rows()
            if served is None or served.rows <= 0:
                notes.append(
                    f"Prometheus has no serve-time counts of version {baseline.version} for the window: {fallback}"
                )
                return None
            if mode == "auto" and served.rows <= self.settings.exact_ks_max_rows:
                return None  # a small window: raw rows from the store, exact tests
            return reader.counts(baseline.engine, served)
        except BackendUnavailable as exc:
            self.health.backend_error("prometheus")
            notes.append(f"{_UNREACHABLE} ({exc}): {fallback}")
        except CountsUnusable as exc:
            notes.append(f"serve-time counts unusable ({exc}): {fallback}")
        return None

    def _add_means(
        self, baseline: ServingBaseline, window: TimeWindow, run: DriftRun, served: ServeCounts | None = None
    ) -> None:
        """Before → after means for numeric checks, so an email can say "1.6e7 s → 1.6e10 s". The exact path
        already has the window's means, the binned paths their per-bin sums; the output's mean comes from the
        served histogram on the serve-time counts, else the store (one AVG per feature, no rows)."""
        ref_means: dict[str, float | None] = {PREDICTION: baseline.profile.prediction.mean}
        for name, fp in baseline.profile.features.items():
            ref_means[name] = getattr(fp, "mean", None)
        numeric = [c for c in run.checks if c.kind == "numeric" and c.role != "quality"]
        for check in numeric:
            if ref_means.get(check.feature) is not None:
                check.summary.setdefault("ref_mean", ref_means[check.feature])
        if served is not None:
            for check in numeric:
                if check.feature in served.means:
                    check.summary.setdefault("cur_mean", served.means[check.feature])
        lacking = [c for c in numeric if "cur_mean" not in c.summary and c.n_cur > 0]
        if not lacking or served is not None:  # the serve-time counts never make the store scan the window
            return
        fields = {_STORE_FIELD.get(c.feature, c.feature): c for c in lacking}
        summaries = self.store.numeric_summaries(window, list(fields), [], model_version=baseline.version)
        for field, check in fields.items():
            summary = summaries.get(field)
            if summary is not None and summary.mean is not None:
                check.summary["cur_mean"] = summary.mean

    def _current(self, baseline: ServingBaseline, window: TimeWindow, rows: int, run: DriftRun) -> dict[str, Any]:
        engine = baseline.engine
        names = list(engine.features)
        if rows <= self.settings.exact_ks_max_rows:
            run.path = "exact"
            frame = self.store.read_window(
                window, fields=[n for n in names if n not in _STORE_FIELD], model_version=baseline.version
            )
            current: dict[str, Any] = {}
            for name in names:
                column = _STORE_FIELD.get(name, name)
                if column not in frame.columns:
                    continue
                base = engine.features[name]
                series = frame[column]
                current[name] = (
                    series.to_numpy(dtype=float) if isinstance(base, NumericBaseline) else series.to_numpy(dtype=object)
                )
            return current
        run.path = "binned"
        bins: list[BinSpec] = []
        for name, base in engine.features.items():
            field = _STORE_FIELD.get(name, name)
            if isinstance(base, NumericBaseline):
                bins.append(NumericBins(field, [float(e) for e in base.edges]))
            elif isinstance(base, CategoricalBaseline):
                bins.append(CategoryBins(field, list(base.categories)))
        counts = self.store.binned_counts(window, bins, model_version=baseline.version)
        reverse = {v: k for k, v in _STORE_FIELD.items()}
        return {reverse.get(field, field): value for field, value in counts.items()}

    @staticmethod
    def _failed(notes: list[str]) -> bool:
        """Whether this run already found Prometheus unreachable (and counted it)."""
        return any(note.startswith(_UNREACHABLE) for note in notes)

    def _prometheus_output(self, baseline: ServingBaseline, run: DriftRun, counted: bool = False) -> Any:
        if self.prometheus is None:
            run.notes.append("Prometheus not configured (MLMON_PROMETHEUS_URL): served output histogram not checked")
            return None
        expr = (
            f'sum by (le) (increase(mlmon_prediction_bucket{{model="{baseline.model}",'
            f'model_version="{baseline.version}"}}[{self.settings.window}]))'
        )
        try:
            bounds, counts = histogram_bins(self.prometheus.query(expr, at=run.window.end))
        except BackendUnavailable as exc:
            if not counted:  # one failure per run in mlmon_backend_errors_total
                self.health.backend_error("prometheus")
            run.notes.append(f"{_UNREACHABLE}, served output histogram not checked: {exc}")
            return None
        base = baseline.engine.features.get(PREDICTION)
        if not isinstance(base, NumericBaseline) or not counts or sum(counts) <= 0:
            run.notes.append("Prometheus has no mlmon_prediction samples for this window yet")
            return None
        if len(bounds) != base.edges.size or not np.allclose(bounds, base.edges, rtol=1e-9, atol=1e-12):
            run.notes.append("Prometheus buckets differ from the baseline edges (another model version?)")
            return None
        prom_baseline = Baseline(rows=baseline.engine.rows, features={PREDICTION: base})
        observed = BinnedCounts(PREDICTION, np.asarray(counts, dtype=float), 0, round(sum(counts)))
        checks = compare(prom_baseline, {PREDICTION: observed}, alpha=self.settings.alpha, exact_max_rows=0)
        return next((c for c in checks if c.role == "output"), None)

    def _publish(self, run: DriftRun, baseline: ServingBaseline) -> None:
        self.collector.update(run)
        try:
            self.store.write_report(to_record(run))
        except StoreUnavailable as exc:
            self.health.backend_error(self.store.backend)
            log.warning("drift report not stored: %s", exc)
        if self.incidents is None or run.status != "ok":
            return  # too few rows: no evidence either way, the incident keeps this service's last part
        self.incidents.report(self.contribution(run, baseline))

    def contribution(self, run: DriftRun, baseline: ServingBaseline) -> Contribution:
        """The run as the drift detector's part of the model's incident."""
        settings = self.settings
        start, end = run.window.start, run.window.end
        # Kibana and Grafana links: the email builds them for the incident's window; the report link too.
        return Contribution(
            service="drift",
            model=run.model,
            model_version=run.version,
            window_start=start,
            window_end=end,
            findings=tuple(run.findings),
            shifts=tuple(run.shifts),
            importance_source="permutation" if run.importance else "",
            output_measured=run.output_measured,
            prediction_ids=tuple(run.example_ids),
            runbook=baseline.spec.runbook or "",
            report_path=run.report_path,
            interval_s=settings.interval_s,
            at=end,  # the run's time (its window ends now), like the statistics service's
        )


def build_drift_job(
    settings: DriftSettings, registry: CollectorRegistry, *, store: InferenceStore | None = None
) -> DriftJob:
    """Wire a job from settings: store, baseline cache, Prometheus client and incident tracker (email)."""
    collector = DriftCollector()
    parts = job_parts("drift", settings, registry, collector, store=store)
    return DriftJob(
        settings=settings,
        store=parts.store,
        baselines=BaselineCache(settings.model_dir(parts.spec.model)),
        collector=collector,
        health=parts.health,
        prometheus=parts.prometheus,
        incidents=parts.incidents,
    )


def _add_served_outside(run: DriftRun, served: ServeCounts) -> None:
    """The values each numeric input had outside its range, as the server counted them: on the serve-time counts
    the integrity checks see no single values (``integrity``: values outside the declared range)."""
    for check in run.checks:
        if check.role == "input" and check.kind == "numeric" and check.feature in served.outside:
            check.summary["served_out_of_range"] = served.outside[check.feature]
