"""The drift detector next to a real Prometheus scraping a real model server: the served output histogram
(``mlmon_prediction``) is checked against the baseline beside the store-based result; without Prometheus the
run still completes and says what it could not check."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from drift_detector.baseline_cache import BaselineCache
from mlmon.registry.serving import LoadedModel
from mlmon.stats.baseline import PREDICTION
from mlmon.store.base import TimeWindow
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import free_port, wait_until
from tests.integration import test_drift_job as drift_tests
from tests.integration.test_drift_job import drift_settings, make_job, write_traffic
from tests.unit.drift_detector.helpers import feature_rows, instances, run_model_server, utc_now
from tests.unit.drift_detector.test_collector import promtool_check, samples

pytestmark = pytest.mark.integration

N = 600

# The drift job tests' module fixtures (trained model folder, Feast repo, shared baseline cache).
model_dir = drift_tests.model_dir
feast_repo_dir = drift_tests.feast_repo_dir
loaded = drift_tests.loaded
baselines = drift_tests.baselines


@pytest.mark.slow
def test_prometheus_output_check_beside_the_store_and_degraded_without_it(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
    prometheus_factory,
):
    with run_model_server(tmp_path / "server", model_dir) as server:
        prom = prometheus_factory({"model-server": [f"127.0.0.1:{server.port}"]})
        # The histogram exists at zero before any prediction, so increase() sees every one of them.
        series = f'{{model="loan_default",model_version="{loaded.version}"}}'  # this version's
        wait_until(lambda: prom.total("mlmon_prediction_count" + series) == 0.0, 20, "mlmon_prediction at zero")
        with httpx.Client(timeout=30) as client:
            predictions = server.predict(client, instances(loaded.spec, feature_rows(N, 31)))
        assert len(predictions) == N and all(p["model_version"] == loaded.version for p in predictions)
        wait_until(lambda: prom.total("mlmon_prediction_count" + series) == N, 20, "all predictions scraped")
        prom.wait_scraped_after(time.time())  # the last sample of the window is after the traffic

        reader = SQLiteStore(server.store_url.removeprefix("sqlite:///"), loaded.spec)
        wait_until(lambda: reader.count(TimeWindow.last(600)) == N, 20, "events written by the model server")

        settings = drift_settings(
            tmp_path / "drift", model_dir, feast_repo_dir, store=server.store_url, prometheus_url=prom.url, window="10m"
        )
        job, registry = make_job(settings, baselines, reader)
        run = job.run_once(utc_now())
        assert run.status == "ok" and run.rows == N
        check = run.prometheus_check
        assert check is not None and check.feature == PREDICTION and check.role == "output"
        assert check.effect is not None
        # increase() extrapolates to the end of the range: a few seconds of history inflate the count (every
        # bucket by the same factor, so the shares are exact); over a real hour of scrapes it is negligible.
        assert N <= check.n_cur <= 2 * N
        assert not any("Prometheus" in note for note in run.notes), run.notes

        # The same predictions binned from the store: same shares, so the same effect size.
        binned_settings = drift_settings(
            tmp_path / "binned", model_dir, feast_repo_dir, exact_ks_max_rows=0, window="10m"
        )
        binned_job, _ = make_job(binned_settings, baselines, reader)
        store_check = next(c for c in binned_job.run_once(utc_now()).checks if c.key == f"output:{PREDICTION}")
        assert store_check.effect is not None and store_check.effect.test == check.effect.test
        assert check.cur_shares == pytest.approx(store_check.cur_shares, abs=1e-9)
        assert check.effect.statistic == pytest.approx(store_check.effect.statistic, rel=1e-6, abs=1e-12)

        text = generate_latest(registry).decode()
        promtool_check(text)
        got = samples(text)
        sources = {dict(k)["source"] for n, k in got if n == "mlmon_drift_score" and dict(k)["feature"] == PREDICTION}
        assert sources == {"store", "prometheus"}
        html = Path(run.report_path or "").read_text()
        assert "Served output distribution from Prometheus" in html
        doc = reader.latest_reports("drift", limit=2)
        assert any(d.get("prometheus") and d["prometheus"]["feature"] == PREDICTION for d in doc)

        # Prometheus goes away: the run completes from the store and says what it could not check.
        prom.process.stop()
        degraded = job.run_once(utc_now())
        assert degraded.status == "ok" and degraded.checks and degraded.prometheus_check is None
        assert any(note.startswith("Prometheus unreachable") for note in degraded.notes), degraded.notes
        got = samples(generate_latest(registry).decode())
        labels = {("model", "loan_default"), ("model_version", loaded.version), ("backend", "prometheus")}
        errors = ("mlmon_backend_errors_total", frozenset(labels))
        assert got[errors] == 1
        assert not any(n == "mlmon_drift_score" and ("source", "prometheus") in k for n, k in got)
        reader.close()


def test_closed_prometheus_port_is_a_note_not_a_failure(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
):
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)
    store.ensure_schema()
    now = utc_now()
    write_traffic(store, loaded, n=300, seed=32, end=now)
    settings = drift_settings(tmp_path, model_dir, feast_repo_dir, prometheus_url=f"http://127.0.0.1:{free_port()}")
    job, _ = make_job(settings, baselines, store)
    run = job.run_once(now)
    assert run.status == "ok" and run.checks and run.prometheus_check is None
    assert any("Prometheus unreachable" in note and "ConnectError" in note for note in run.notes), run.notes
    assert job.health.errors_of("prometheus") == 1
    store.close()


def test_a_prometheus_with_no_samples_for_the_window_is_a_note_not_a_crash(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
    prometheus_factory,
):
    """After a Prometheus restart or gap: a live Prometheus that holds no mlmon_prediction series."""
    prom = prometheus_factory({"model-server": [f"127.0.0.1:{free_port()}"]})
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)
    store.ensure_schema()
    now = utc_now()
    write_traffic(store, loaded, n=300, seed=33, end=now)
    job, _ = make_job(drift_settings(tmp_path, model_dir, feast_repo_dir, prometheus_url=prom.url), baselines, store)
    run = job.run_once(now)
    assert run.status == "ok" and run.checks and run.prometheus_check is None
    assert any("no mlmon_prediction samples" in note for note in run.notes), run.notes
    assert job.health.backend_errors == {}
    store.close()
