"""The statistics service on real stores: the same window gives the same numbers from SQLite and the ES-API
server; delayed labels arrive in batches and metrics appear only once the window is mature, equal to
scikit-learn on the joined data; bad labels are visible in the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sklearn import metrics as skm

from mlmon.demo.data import default_probability
from mlmon.registry.serving import LoadedModel, load_model
from mlmon.settings import StatsSettings
from mlmon.store.base import InferenceStore, LabelRecord, TimeWindow
from mlmon.store.sqlite import SQLiteStore
from stats_service.job import StatsJob, build_stats_job
from stats_service.run import StatsRun, report_document
from tests.unit.drift_detector.helpers import SPEC_PATH, events_from_frame, feature_rows, model_scores, utc_now
from tests.unit.drift_detector.test_collector import promtool_check, samples

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_dir(trained_model: Any) -> Path:
    return Path(trained_model.path).parent


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedModel:
    return load_model(model_dir)


@pytest.fixture
def sqlite_store(tmp_path: Path, loaded: LoadedModel) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)
    store.ensure_schema()
    yield store
    store.close()


def stats_settings(tmp_path: Path, model_dir: Path, **overrides: Any) -> StatsSettings:
    values: dict[str, Any] = {
        "store": f"sqlite:///{tmp_path / 'inference.db'}",
        "model_spec": SPEC_PATH,
        "model_path": model_dir,
        "var_dir": tmp_path / "var",
        "windows": ["30m"],
        "label_delay_s": 0,
        "min_labels": 30,
    }
    return StatsSettings(_env_file=None, **(values | overrides))  # not ./.env


def make_job(settings: StatsSettings, store: InferenceStore) -> tuple[StatsJob, CollectorRegistry]:
    registry = CollectorRegistry()
    return build_stats_job(settings, registry, store=store), registry


class Traffic:
    """Predictions of the real model on fresh applications, and their true outcomes (ground truth)."""

    def __init__(self, loaded: LoadedModel, n: int, seed: int, end: datetime, span_s: float = 1500) -> None:
        rng = np.random.default_rng(seed)
        self.frame = feature_rows(n, seed)
        self.scores = np.asarray(model_scores(loaded, self.frame))
        kinds = rng.choice(["ok", "empty", "fallback"], size=n, p=[0.9, 0.04, 0.06])
        self.events = events_from_frame(
            loaded.spec,
            self.frame,
            list(self.scores),
            version=loaded.version,
            end=end,
            span_s=span_s,
            response_kinds=list(kinds),
            latencies=list(rng.gamma(2.0, 3.0, n)),
        )
        defaulted = rng.random(n) < default_probability(self.frame)
        self.truth = np.where(defaulted, "default", "no_default")
        self.ids = [e.prediction_id for e in self.events]

    def labels(
        self, index: np.ndarray | list[int] | range, observed: datetime | None = None, flip: bool = False
    ) -> list[LabelRecord]:
        out = []
        for i in index:
            event = self.events[int(i)]
            label = str(self.truth[int(i)])
            if flip:
                label = "no_default" if label == "default" else "default"
            out.append(LabelRecord(event.prediction_id, label, observed or event.timestamp + timedelta(minutes=10)))
        return out


def sklearn_metrics(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    predicted = np.where(scores >= 0.5, "default", "no_default")
    return {
        "accuracy": skm.accuracy_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted, pos_label="default", zero_division=0),
        "recall": skm.recall_score(truth, predicted, pos_label="default", zero_division=0),
        "f1": skm.f1_score(truth, predicted, pos_label="default", zero_division=0),
        "positive_rate": float(np.mean(predicted == "default")),
        "roc_auc": skm.roc_auc_score(truth == "default", scores),
    }


def overall(run: StatsRun, version: str) -> Any:
    return next(r for r in run.windows[0].evaluation if r.segment == "all" and r.model_version == version)


def test_same_window_same_statistics_from_sqlite_and_es_api_server(tmp_path, model_dir, loaded, sqlite_store, es_url):
    from mlmon.store.elasticsearch import ElasticsearchStore

    now = utc_now()
    traffic = Traffic(loaded, 700, seed=41, end=now)
    labelled = np.flatnonzero(np.random.default_rng(1).random(700) < 0.7)
    es = ElasticsearchStore(es_url, loaded.spec)
    es.ensure_schema()
    try:
        runs = {}
        for name, store in (("sqlite", sqlite_store), ("es", es)):
            assert store.write_events(traffic.events).stored == 700
            assert store.upsert_labels(traffic.labels(labelled)).written == len(labelled)
            store.refresh()
            job, registry = make_job(stats_settings(tmp_path / name, model_dir), store)
            runs[name] = job.run_once(now)
            promtool_check(generate_latest(registry).decode())
        lite, elastic = runs["sqlite"].windows[0], runs["es"].windows[0]
        assert lite.rows == elastic.rows == 700
        assert set(lite.features) == set(elastic.features)
        for feature, values in lite.features.items():
            assert set(values) == set(elastic.features[feature]), feature
            for stat, value in values.items():
                got = elastic.features[feature][stat]
                if stat.startswith("p") and stat[1:].isdigit():
                    # Elasticsearch percentiles are estimates (TDigest): the store contract allows the order
                    # statistics one percentage point either side; SQLite's are exact (numpy "linear"). On a
                    # discrete feature (term_months: 12, 24, 36, …) TDigest interpolates between neighbouring
                    # values, so the bracket widens to the next distinct value on each side.
                    column = "prediction" if feature == "prediction" else feature
                    data = traffic.scores if column == "prediction" else traffic.frame[column].to_numpy(dtype=float)
                    data = data[~np.isnan(data)]
                    p = float(stat[1:])
                    assert value == pytest.approx(np.percentile(data, p), rel=1e-12), (feature, stat)
                    lo = np.percentile(data, max(p - 1, 0), method="lower")
                    hi = np.percentile(data, min(p + 1, 100), method="higher")
                    distinct = np.unique(data)
                    lo = distinct[max(np.searchsorted(distinct, lo) - 1, 0)]
                    hi = distinct[min(np.searchsorted(distinct, hi) + 1, distinct.size - 1)]
                    assert lo <= got <= hi, (feature, stat, got, lo, hi)
                else:
                    assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (feature, stat)
        assert lite.responses == pytest.approx(elastic.responses)
        key = {(r.model_version, r.segment): r for r in lite.evaluation}
        assert {(r.model_version, r.segment) for r in elastic.evaluation} == set(key)
        for result in elastic.evaluation:
            other = key[(result.model_version, result.segment)]
            assert (result.status, result.predictions, result.labelled) == (
                other.status,
                other.predictions,
                other.labelled,
            )
            assert result.metrics == pytest.approx(other.metrics, rel=1e-12)
        # … and equal to numpy / scikit-learn on the data we sent.
        income = traffic.frame["income"].to_numpy(dtype=float)
        assert lite.features["income"]["mean"] == pytest.approx(np.nanmean(income))
        assert lite.features["income"]["p50"] == pytest.approx(np.nanpercentile(income, 50))
        assert lite.features["prediction"]["p95"] == pytest.approx(np.percentile(traffic.scores, 95))
        expected = sklearn_metrics(traffic.truth[labelled], traffic.scores[labelled])
        assert overall(runs["es"], loaded.version).metrics == pytest.approx(expected, rel=1e-12)
        assert overall(runs["es"], loaded.version).coverage == pytest.approx(len(labelled) / 700)
        [doc] = es.latest_reports("stats", limit=1)
        assert doc["windows"][0]["rows"] == 700
    finally:
        es.close()


def test_labels_arrive_in_batches_and_metrics_appear_once_mature(tmp_path, model_dir, loaded, sqlite_store):
    t = utc_now()
    # Predictions over [t - 29m, t - 1m); windows of 30 minutes; labels are mature after one hour.
    traffic = Traffic(loaded, 900, seed=42, end=t - timedelta(minutes=1), span_s=28 * 60)
    assert sqlite_store.write_events(traffic.events).stored == 900
    settings = stats_settings(tmp_path, model_dir, label_delay_s=3600)
    job, registry = make_job(settings, sqlite_store)

    def eval_metrics() -> dict[tuple[str, str], float]:
        got = samples(generate_latest(registry).decode())
        return {(dict(k)["metric"], dict(k)["segment"]): v for (n, k), v in got.items() if n == "mlmon_eval_metric"}

    run = job.run_once(t + timedelta(minutes=2))
    assert [r.status for r in run.windows[0].evaluation] == ["no_traffic"]  # the mature window is still empty
    current = next(r for r in run.windows[0].current_evaluation if r.segment == "all")
    assert current.status == "immature" and current.labelled == 0 and current.metrics == {}
    assert eval_metrics() == {}

    order = np.random.default_rng(7).permutation(900)
    batches = [order[:300], order[300:600], order[600:810]]  # 90 ids never get a label
    result = sqlite_store.upsert_labels(traffic.labels(batches[0], observed=t + timedelta(minutes=10)))
    assert (result.written, result.replaced, result.unknown) == (300, 0, [])
    run = job.run_once(t + timedelta(minutes=15))
    assert [r.status for r in run.windows[0].evaluation] == ["no_traffic"]
    current = next(r for r in run.windows[0].current_evaluation if r.segment == "all")
    in_window = [i for i, e in enumerate(traffic.events) if e.timestamp >= run.windows[0].window.start]
    assert current.status == "immature" and current.predictions == len(in_window)
    assert current.labelled == len(set(in_window) & set(batches[0].tolist()))
    assert current.metrics == {} and eval_metrics() == {}  # immature: no numbers, not zeros
    doc = report_document(run)
    assert doc["windows"][0]["current_window_labels"][0]["status"] == "immature"

    sqlite_store.upsert_labels(traffic.labels(batches[1], observed=t + timedelta(minutes=40)))
    sqlite_store.upsert_labels(traffic.labels(batches[2], observed=t + timedelta(minutes=50)))
    # A correction for 40 earlier labels: the last one wins, and it is counted as a replacement.
    corrected = batches[0][:40]
    fix = sqlite_store.upsert_labels(traffic.labels(corrected, observed=t + timedelta(minutes=55), flip=True))
    assert (fix.written, fix.replaced) == (40, 40)

    run = job.run_once(t + timedelta(hours=1))
    window = run.windows[0]
    assert (window.eval_window.start, window.eval_window.end) == (t - timedelta(minutes=30), t)
    result_all = overall(run, loaded.version)
    assert result_all.status == "ok"
    labelled = np.concatenate(batches)
    truth = traffic.truth.copy()
    truth[corrected] = np.where(truth[corrected] == "default", "no_default", "default")
    expected = sklearn_metrics(truth[labelled], traffic.scores[labelled])
    assert result_all.metrics == pytest.approx(expected, rel=1e-12)
    assert result_all.coverage == pytest.approx(810 / 900)
    observed = dict.fromkeys(batches[0], 10) | dict.fromkeys(batches[1], 40) | dict.fromkeys(batches[2], 50)
    observed |= dict.fromkeys(corrected, 55)
    lags = [((t + timedelta(minutes=observed[i])) - traffic.events[i].timestamp).total_seconds() for i in labelled]
    assert result_all.label_lag_s == pytest.approx(float(np.median(lags)), abs=0.002)

    channel = traffic.frame["channel"].to_numpy()
    for value in ("web", "mobile"):
        part = labelled[channel[labelled] == value]
        segment = next(r for r in window.evaluation if r.segment == f"channel={value}")
        assert segment.metrics == pytest.approx(sklearn_metrics(truth[part], traffic.scores[part]), rel=1e-12)

    text = generate_latest(registry).decode()
    promtool_check(text)
    exported = eval_metrics()
    assert exported[("roc_auc", "all")] == pytest.approx(expected["roc_auc"])
    assert exported[("precision", "channel=web")] == pytest.approx(
        next(r for r in window.evaluation if r.segment == "channel=web").metrics["precision"]
    )
    got = samples(text)
    cov = (
        "mlmon_label_coverage_ratio",
        frozenset({("model", "loan_default"), ("model_version", loaded.version), ("window", "30m")}),
    )
    assert got[cov] == pytest.approx(0.9)
    slos = {r.slo.metric: r for r in run.slos}
    assert slos["roc_auc"].value == pytest.approx(expected["roc_auc"])
    assert slos["roc_auc"].breached is (expected["roc_auc"] < 0.70)
    assert slos["precision"].source.startswith("labels")


def test_bad_labels_are_visible_in_the_report(tmp_path, model_dir, loaded, sqlite_store):
    now = utc_now()
    traffic = Traffic(loaded, 400, seed=43, end=now)
    sqlite_store.write_events(traffic.events)
    job, _ = make_job(stats_settings(tmp_path, model_dir), sqlite_store)

    # A model with no labels at all: no metrics, and the report says why.
    run = job.run_once(now)
    result = overall(run, loaded.version)
    assert result.status == "insufficient_labels" and result.labelled == 0 and result.metrics == {}
    assert any("0 usable label(s) for 400 predictions" in n and "min_labels=30" in n for n in run.notes), run.notes
    assert not [r for r in run.slos if r.slo.metric == "roc_auc" and r.value is not None]

    # Labels for unknown ids are refused by the store, named, and change nothing.
    unknown = [LabelRecord(f"nope-{i}", "default", now) for i in range(5)]
    result_unknown = sqlite_store.upsert_labels([*unknown, *traffic.labels(range(200))])
    assert result_unknown.unknown == [u.prediction_id for u in unknown] and result_unknown.written == 200
    # Wrong-type labels written straight into the store (the /feedback endpoint refuses them with 422).
    wrong = [LabelRecord(traffic.ids[i], 1.0, now) for i in range(200, 220)]
    wrong += [LabelRecord(traffic.ids[i], "maybe", now) for i in range(220, 230)]
    assert sqlite_store.upsert_labels(wrong).written == 30
    run = job.run_once(now)
    result = overall(run, loaded.version)
    assert result.invalid_labels == 30 and result.labelled == 200
    assert result.coverage == pytest.approx(200 / 400)
    assert result.metrics == pytest.approx(sklearn_metrics(traffic.truth[:200], traffic.scores[:200]), rel=1e-12)
    assert any("30 label(s)" in n and "not one of the classes" in n for n in run.notes), run.notes
    doc = json.loads(json.dumps(report_document(run), allow_nan=False))
    assert doc["windows"][0]["evaluation"][0]["invalid_labels"] == 30
    assert any("not one of the classes" in n for n in doc["notes"])
    stored = sqlite_store.latest_reports("stats", limit=1)[0]
    assert stored["notes"] == doc["notes"]


def test_no_traffic_window(tmp_path, model_dir, loaded, sqlite_store):
    job, registry = make_job(stats_settings(tmp_path, model_dir, windows=["5m", "1h"]), sqlite_store)
    run = job.run_once(utc_now())
    assert [w.rows for w in run.windows] == [0, 0]
    assert "no traffic in the last 5m" in run.notes and "no traffic in the last 1h" in run.notes
    assert all(w.features == {} and w.responses == {} for w in run.windows)
    assert [r.status for r in run.windows[0].evaluation] == ["no_traffic"]
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    assert got[("mlmon_window_predictions", frozenset({("model", "loan_default"), ("window", "5m")}))] == 0
    assert not any(n == "mlmon_label_coverage_ratio" for n, _ in got)


def test_prometheus_unreachable_is_a_note_and_the_store_part_runs(tmp_path, model_dir, loaded, sqlite_store):
    from tests.conftest import free_port

    now = utc_now()
    traffic = Traffic(loaded, 200, seed=44, end=now)
    sqlite_store.write_events(traffic.events)
    settings = stats_settings(tmp_path, model_dir, prometheus_url=f"http://127.0.0.1:{free_port()}")
    job, registry = make_job(settings, sqlite_store)
    run = job.run_once(now)
    window = run.windows[0]
    assert window.rows == 200 and window.features["prediction"]["count"] == 200
    assert window.traffic is not None and window.traffic.error and window.traffic.request_rate is None
    assert any(n.startswith("Prometheus unreachable for 30m") for n in run.notes), run.notes
    # p95 latency falls back to the store's model latency, and says so.
    slo = next(r for r in run.slos if r.slo.metric == "p95_latency_ms")
    assert slo.source == "store (model latency only)"
    latencies = [e.latency_ms for e in traffic.events]
    assert slo.value == pytest.approx(np.percentile(latencies, 95), rel=1e-9)
    got = samples(generate_latest(registry).decode())
    labels = {("model", "loan_default"), ("model_version", job.health.model_version), ("backend", "prometheus")}
    assert got[("mlmon_backend_errors_total", frozenset(labels))] == 1
    assert not any(n == "mlmon_traffic_change_ratio" for n, _ in got)


def test_the_job_applies_retention_hourly_and_survives_a_failing_store(tmp_path, model_dir, loaded):
    import sqlite3

    now = utc_now()
    # busy_timeout_ms: under the other writer's lock below, fail fast instead of waiting the default 10 s
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec, retention_days=30, busy_timeout_ms=50)
    store.ensure_schema()
    try:
        recent = Traffic(loaded, 200, seed=45, end=now)
        old = Traffic(loaded, 60, seed=46, end=now - timedelta(days=40))
        old.events = [replace(e, prediction_id=f"old-{e.prediction_id}") for e in old.events]
        assert store.write_events([*recent.events, *old.events]).stored == 260
        everything = TimeWindow(now - timedelta(days=400), now + timedelta(days=1))
        job, registry = make_job(stats_settings(tmp_path, model_dir, windows=["3h"]), store)

        run = job.run_once(now)  # the first run applies it
        assert run.retention is not None and run.retention.events_deleted == 60
        assert store.count(everything) == 200 and run.windows[0].rows == 200
        doc = store.latest_reports("stats", limit=1)[0]
        assert doc["retention"]["events_deleted"] == 60

        # Within the hour nothing is deleted, even with old rows back in the store.
        assert store.write_events(old.events).stored == 60
        assert job.run_once(now + timedelta(minutes=30)).retention is None
        assert store.count(everything) == 260

        # An hour later the store is locked by another writer: the run completes, the failure is counted.
        blocker = sqlite3.connect(store.path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            locked = job.run_once(now + timedelta(minutes=61))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert locked.retention is None and locked.windows[0].rows == 200
        assert any(n.startswith("retention not applied") for n in locked.notes), locked.notes
        text = generate_latest(registry).decode()
        promtool_check(text)
        errors = samples(text)[
            (
                "mlmon_backend_errors_total",
                frozenset(
                    {("model", "loan_default"), ("model_version", job.health.model_version), ("backend", "sqlite")}
                ),
            )
        ]
        assert errors == 2  # the retention, and the report that could not be written under the same lock
        assert store.count(everything) == 260

        later = job.run_once(now + timedelta(minutes=122))  # the next hour: applied again
        assert later.retention is not None and later.retention.events_deleted == 60
        assert store.count(everything) == 200
    finally:
        store.close()
