"""Drift runs on the serve-time counts: a real model server counts its inputs on the baseline's bins, a real
Prometheus scrapes it, and the drift detector reads the window from ``increase(...)`` — features × bins numbers,
the window size included — flags the shifted feature and says its source; with Prometheus gone it falls back
to the store and says so."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client import generate_latest

from drift_detector.baseline_cache import BaselineCache
from drift_detector.run import report_document, summary_text
from mlmon.registry.serving import LoadedModel
from mlmon.store.base import TimeWindow
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.integration import test_drift_job as drift_tests
from tests.integration.test_drift_job import drift_settings, make_job
from tests.unit.drift_detector.helpers import feature_rows, instances, run_model_server, utc_now
from tests.unit.drift_detector.test_collector import promtool_check, samples

pytestmark = pytest.mark.integration

N = 800
SHIFTED = "loan_amount"

model_dir = drift_tests.model_dir
feast_repo_dir = drift_tests.feast_repo_dir
loaded = drift_tests.loaded
baselines = drift_tests.baselines


OUTSIDE = "age"  # declared range [18, 100]
OUTSIDE_ROWS = 6


def _shift(frame: pd.DataFrame) -> None:
    frame[SHIFTED] = frame[SHIFTED] * 2.5
    frame.loc[: OUTSIDE_ROWS - 1, OUTSIDE] = 150.0  # served and counted, not refused


@pytest.mark.slow
def test_a_drift_run_on_the_serve_time_counts_flags_the_shift_and_falls_back_without_prometheus(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
    prometheus_factory,
):
    version = loaded.version
    with run_model_server(tmp_path / "server", model_dir) as server:
        prom = prometheus_factory({"model-server": [f"127.0.0.1:{server.port}"]})
        # every bin series exists at zero before the first prediction, so increase() sees all of them
        series = f'{{model="loan_default",model_version="{version}"}}'  # this version's
        wait_until(lambda: prom.total("mlmon_feature_bin_total" + series) == 0.0, 20, "mlmon_feature_bin_total at zero")
        with httpx.Client(timeout=30) as client:
            predictions = server.predict(client, instances(loaded.spec, feature_rows(N, 41, _shift)))
        assert len(predictions) == N
        wait_until(lambda: prom.total("mlmon_responses_total" + series) == N, 20, "all responses scraped")
        prom.wait_scraped_after(time.time())
        reader = SQLiteStore(server.store_url.removeprefix("sqlite:///"), loaded.spec)
        wait_until(lambda: reader.count(TimeWindow.last(600)) == N, 20, "events written by the model server")

        common = {"store": server.store_url, "prometheus_url": prom.url, "window": "10m"}
        settings = drift_settings(tmp_path / "counts", model_dir, feast_repo_dir, drift_counts="prometheus", **common)
        job, registry = make_job(settings, baselines, reader)
        run = job.run_once(utc_now())
        assert run.status == "ok" and run.source == "prometheus" and run.path == "binned", run.notes
        assert N <= run.rows <= 2 * N  # from mlmon_responses_total; increase() extrapolates a little
        drifted = {c.feature for c, _ in run.drifted}
        assert SHIFTED in drifted, [(c.key, c.effect) for c in run.checks]
        check = next(c for c in run.checks if c.key == f"input:{SHIFTED}")
        assert check.effect is not None and check.effect.test == "wasserstein_binned"
        assert check.summary.get("cur_mean") is not None  # from the per-bin sums
        # no single values in bins: the server's count of values outside the declared range makes the break
        outside = next(c for c in run.checks if c.key == f"input:{OUTSIDE}")
        assert OUTSIDE_ROWS <= (outside.summary["served_out_of_range"] or 0) <= 2 * OUTSIDE_ROWS
        assert run.breaks[f"input:{OUTSIDE}"].code == "out_of_range", run.breaks
        assert run.prometheus_check is None  # the output check itself came from Prometheus
        assert not any("store" in note for note in run.notes), run.notes
        assert report_document(run)["source"] == "prometheus"
        assert "counts from Prometheus (serve-time counts)" in summary_text(run)
        doc = reader.latest_reports("drift", limit=1)[0]
        assert doc["source"] == "prometheus" and SHIFTED in doc["drifted_features"]
        text = generate_latest(registry).decode()
        promtool_check(text)
        scores = {dict(k)["feature"]: dict(k)["source"] for n, k in samples(text) if n == "mlmon_drift_score"}
        assert scores[SHIFTED] == "prometheus"

        # The same rows from the store (counts pushed down): the same feature flagged, a close effect size.
        store_settings = drift_settings(
            tmp_path / "store", model_dir, feast_repo_dir, drift_counts="store", exact_ks_max_rows=0, **common
        )
        store_run = make_job(store_settings, baselines, reader)[0].run_once(utc_now())
        assert store_run.source == "store" and store_run.path == "binned" and store_run.rows == N
        assert SHIFTED in {c.feature for c, _ in store_run.drifted}
        store_check = next(c for c in store_run.checks if c.key == f"input:{SHIFTED}")
        assert store_check.effect is not None
        assert check.effect.statistic == pytest.approx(store_check.effect.statistic, rel=1e-6)
        assert check.cur_shares == pytest.approx(store_check.cur_shares, abs=1e-9)

        # auto: a window within MLMON_EXACT_KS_MAX_ROWS stays exact on the store's raw rows; above, the counts
        auto = drift_settings(tmp_path / "auto", model_dir, feast_repo_dir, **common)
        small = make_job(auto, baselines, reader)[0].run_once(utc_now())
        assert small.source == "store" and small.path == "exact" and small.rows == N
        auto_big = drift_settings(tmp_path / "auto2", model_dir, feast_repo_dir, exact_ks_max_rows=100, **common)
        assert make_job(auto_big, baselines, reader)[0].run_once(utc_now()).source == "prometheus"

        # Prometheus goes away: the run falls back to the store's counts and says so.
        prom.process.stop()
        degraded = job.run_once(utc_now())
        assert degraded.status == "ok" and degraded.source == "store" and degraded.rows == N
        assert SHIFTED in {c.feature for c, _ in degraded.drifted}
        assert any(n.startswith("Prometheus unreachable") and "from the store" in n for n in degraded.notes)
        assert job.health.errors_of("prometheus") >= 1
        assert report_document(degraded)["source"] == "store"
        got = samples(generate_latest(registry).decode())
        assert {dict(k)["source"] for n, k in got if n == "mlmon_drift_score"} == {"store"}
        reader.close()
