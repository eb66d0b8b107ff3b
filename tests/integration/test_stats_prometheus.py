"""The statistics service against a real Prometheus scraping real model servers (one healthy, one that lost
its model and answers 503), and ground truth through the real ``/feedback`` endpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon.store.base import TimeWindow
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import wait_http, wait_until
from tests.integration import test_stats_job as stats_tests
from tests.integration.test_stats_job import make_job, overall, sklearn_metrics, stats_settings
from tests.unit.drift_detector.helpers import (
    ModelServer,
    feature_rows,
    instances,
    run_model_server,
    utc_now,
)
from tests.unit.drift_detector.test_collector import promtool_check, samples

pytestmark = pytest.mark.integration

model_dir = stats_tests.model_dir
loaded = stats_tests.loaded


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[tuple[ModelServer, ModelServer]]:
    """A healthy model server and a replica whose model is gone (every /predict answers 503)."""
    root = tmp_path_factory.mktemp("model-servers")
    with (
        run_model_server(root / "broken", root / "no-model-here", ready_path=None) as broken,
        run_model_server(root / "good", model_dir) as good,
    ):  # both start at once; wait for each
        wait_http(f"{broken.url}/healthz", timeout=60, proc=broken.process.proc)
        yield good, broken


def _duration_buckets(server: ModelServer) -> dict[float, float]:
    """Cumulative /predict request-duration buckets, read straight from the server's /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "mlmon_request_duration_seconds_bucket" and s.labels.get("endpoint") == "/predict":
                out[float(s.labels["le"])] = out.get(float(s.labels["le"]), 0.0) + s.value
    return out


def _quantile(q: float, buckets: dict[float, float]) -> tuple[float, float, float]:
    """Prometheus' histogram_quantile on cumulative buckets → (estimate, bucket lower bound, upper bound)."""
    bounds = sorted(buckets)
    total = buckets[math.inf]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == math.inf:
                return previous_bound, previous_bound, math.inf
            share = (rank - previous_count) / (buckets[bound] - previous_count)
            return previous_bound + (bound - previous_bound) * share, previous_bound, bound
        previous_bound, previous_count = bound, buckets[bound]
    raise AssertionError("no +Inf bucket")


def _paced(
    client: httpx.Client,
    good: ModelServer,
    broken: ModelServer,
    rows: list[dict[str, Any]],
    seconds: float,
    per_second: float,
    every_broken: int,
) -> tuple[int, int]:
    """Send requests at a steady pace for ``seconds``; every ``every_broken``-th goes to the broken replica."""
    sent = errors = 0
    start = time.monotonic()
    total = int(seconds * per_second)
    for i in range(total):
        wait = start + i / per_second - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        target = broken if i % every_broken == every_broken - 1 else good
        response = client.post(f"{target.url}/predict", json=rows[i % len(rows)])
        sent += 1
        if response.status_code >= 500:
            errors += 1
        else:
            assert response.status_code == 200, response.text
    remaining = start + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    return sent, errors


@pytest.mark.slow
def test_golden_signals_and_a_traffic_drop_from_prometheus(tmp_path, model_dir, loaded, servers, prometheus_factory):
    good, broken = servers
    prom = prometheus_factory({"model-server": [f"127.0.0.1:{good.port}", f"127.0.0.1:{broken.port}"]})
    rows = instances(loaded.spec, feature_rows(200, 51))
    with httpx.Client(timeout=30) as client:
        # Series exist (and were scraped) before the measured phases, so increase() sees all of them.
        assert client.post(f"{good.url}/predict", json=rows[0]).status_code == 200
        assert client.post(f"{broken.url}/predict", json=rows[0]).status_code == 503
        prom.wait_for_series('mlmon_requests_total{endpoint="/predict",status="503"}')
        prom.wait_for_series('mlmon_requests_total{endpoint="/predict",status="200"}')
        prom.wait_scraped_after(time.time())
        sent_a, _ = _paced(client, good, broken, rows, seconds=10, per_second=10, every_broken=8)
        before_b = [_duration_buckets(good), _duration_buckets(broken)]
        sent_b, errors_b = _paced(client, good, broken, rows, seconds=10, per_second=5, every_broken=8)
        after_b = [_duration_buckets(good), _duration_buckets(broken)]
    now = utc_now()
    prom.wait_scraped_after(now.timestamp())

    reader = SQLiteStore(good.store_url.removeprefix("sqlite:///"), loaded.spec)
    settings = stats_settings(
        tmp_path,
        model_dir,
        store=good.store_url,
        prometheus_url=prom.url,
        windows=["10s"],
        traffic_offsets=["10s"],
        traffic_change_threshold=0.25,
    )
    job, registry = make_job(settings, reader)
    run = job.run_once(now)
    traffic = run.windows[0].traffic
    assert traffic is not None and traffic.error is None, run.notes
    print(f"sent {sent_a} then {sent_b} ({errors_b} errors); Prometheus: {traffic}")  # shown with -s / on failure
    assert traffic.volume == pytest.approx(sent_b, rel=0.3)
    assert traffic.previous_volume["10s"] == pytest.approx(sent_a, rel=0.3)
    assert traffic.change_ratio["10s"] == pytest.approx(sent_b / sent_a - 1, abs=0.2)
    assert traffic.request_rate == pytest.approx(sent_b / 10, rel=0.3)
    assert traffic.error_ratio == pytest.approx(errors_b / sent_b, abs=0.06)
    assert errors_b > 0

    delta = {
        le: sum(after[le] - before[le] for before, after in zip(before_b, after_b, strict=True)) for le in after_b[0]
    }
    expected, lower, _upper = _quantile(0.95, delta)
    assert traffic.p95_latency_ms is not None
    # Prometheus' rate() window does not line up exactly with our two scrapes of /metrics, so the rank can
    # land in a neighbouring bucket: accept the bucket of our estimate and its neighbours.
    bounds = [0.0, *sorted(b for b in delta if b != math.inf), math.inf]
    i = bounds.index(lower)
    low, high = bounds[max(i - 1, 0)], bounds[min(i + 2, len(bounds) - 1)]
    assert low * 1000 <= traffic.p95_latency_ms <= high * 1000, (traffic.p95_latency_ms, expected, low, high)

    drop = [f for f in run.findings if f.signal == "traffic"]
    assert [f.name for f in drop] == ["traffic_10s_vs_10s"]
    assert "(-" in drop[0].title and "10s earlier" in drop[0].title
    slo = next(r for r in run.slos if r.slo.metric == "p95_latency_ms")
    assert slo.source == "prometheus" and slo.value == pytest.approx(traffic.p95_latency_ms)
    # The store side of the same run: events the healthy server logged in the window.
    assert run.windows[0].rows == pytest.approx(sent_b * 7 / 8, abs=3)
    assert not any("Prometheus" in note for note in run.notes), run.notes

    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    ratio = got[
        ("mlmon_traffic_change_ratio", frozenset({("model", "loan_default"), ("window", "10s"), ("offset", "10s")}))
    ]
    assert ratio == pytest.approx(traffic.change_ratio["10s"])
    reader.close()


def test_feedback_endpoint_labels_and_bad_input(tmp_path, model_dir, loaded, servers):
    good, _ = servers
    frame = feature_rows(120, 52)
    auth = {"Authorization": f"Bearer {good.token}"}
    with httpx.Client(timeout=30) as client:
        predictions = good.predict(client, instances(loaded.spec, frame), batch=60)
        ids = [p["prediction_id"] for p in predictions]
        # An empty answer (no income: the affordability filter) carries no score; its label is still known.
        scores = np.array([p["score"] if p["score"] is not None else 0.2 for p in predictions])
        truth = np.where(np.random.default_rng(3).random(120) < scores, "default", "no_default")
        reader = SQLiteStore(good.store_url.removeprefix("sqlite:///"), loaded.spec)

        def stored() -> bool:
            return bool(reader.read_window(TimeWindow.last(600), fields=[])["prediction_id"].isin(ids).sum() == 120)

        wait_until(stored, 20, "events stored")

        # First batch: 60 labels plus 3 for ids the server never issued.
        body = [{"prediction_id": i, "label": str(t)} for i, t in zip(ids[:60], truth[:60], strict=True)]
        body += [{"prediction_id": f"unknown-{k}", "label": "default"} for k in range(3)]
        response = client.post(f"{good.url}/feedback", json=body, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json() | {"unknown_ids": sorted(response.json()["unknown_ids"])} == {
            "written": 60,
            "replaced": 0,
            "unknown": 3,
            "unknown_ids": ["unknown-0", "unknown-1", "unknown-2"],
        }

        # A wrong-type label is refused whole, naming the item and field; nothing of that request is written.
        bad = [{"prediction_id": ids[60], "label": "default"}, {"prediction_id": ids[61], "label": 3.5}]
        response = client.post(f"{good.url}/feedback", json=bad, headers=auth)
        assert response.status_code == 422
        assert "[1].label" in response.text
        assert (
            client.post(
                f"{good.url}/feedback",
                json={"prediction_id": ids[62], "label": "x"},
                headers={"Authorization": "Bearer wrong"},
            ).status_code
            == 401
        )

        # Second batch: the rest, then corrections for ten earlier labels (last one wins, counted). 1/0 are
        # accepted for a two-class model.
        rest = [
            {"prediction_id": i, "label": 1 if t == "default" else 0}
            for i, t in zip(ids[60:110], truth[60:110], strict=True)
        ]
        assert client.post(f"{good.url}/feedback", json=rest, headers=auth).json()["written"] == 50
        flipped = np.where(truth[:10] == "default", "no_default", "default")
        fixes = [{"prediction_id": i, "label": str(t)} for i, t in zip(ids[:10], flipped, strict=True)]
        response = client.post(f"{good.url}/feedback", json=fixes, headers=auth)
        assert response.json()["written"] == 10 and response.json()["replaced"] == 10

    final = truth.copy()
    final[:10] = flipped
    job, _ = make_job(stats_settings(tmp_path, model_dir, store=good.store_url, windows=["10m"]), reader)
    run = job.run_once(utc_now())
    result = overall(run, loaded.version)
    window_ids = set(reader.read_window(run.windows[0].window, fields=[])["prediction_id"])
    assert set(ids) <= window_ids
    assert result.labelled == 110 and result.invalid_labels == 0
    assert result.coverage == pytest.approx(110 / len(window_ids))
    # Other tests' predictions may share the window, unlabelled: metrics come from the labelled rows only.
    # The store keeps the model's score even for answers the affordability filter emptied.
    logged = reader.read_window(run.windows[0].window, fields=[]).set_index("prediction_id")["prediction.score"]
    model_scores = logged.loc[ids[:110]].to_numpy(dtype=float)
    assert result.metrics == pytest.approx(sklearn_metrics(final[:110], model_scores), rel=1e-9)
    reader.close()
