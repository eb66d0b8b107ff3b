"""The inference log never loses an event: a real model server process (uvicorn, `python -m model_server`)
with a model trained by `mlmon train`'s code path, writing to the real ES-API server (osmem) through a
loopback proxy that the test cuts and restores. Afterwards the store holds exactly the served predictions,
none twice — across an outage mid-stream, and across a restart of the server with a non-empty spool.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlmon.registry.serving import load_model
from mlmon.spec import ModelSpec
from mlmon.store.base import TimeWindow
from mlmon.store.elasticsearch import ElasticsearchStore
from model_server.schemas import example_instance
from tests.conftest import ManagedProcess, free_port, managed
from tests.fixtures.proxy import TcpProxy

pytestmark = pytest.mark.integration

N_BEFORE, N_DURING, N_AFTER = 60, 120, 40


def _server_env(model_dir: Path, spec_path: Path, store_url: str, var_dir: Path, port: int) -> dict[str, str]:
    return {
        "MLMON_STORE": store_url,
        "MLMON_MODEL_PATH": str(model_dir),
        "MLMON_VAR_DIR": str(var_dir),
        "MLMON_MODEL_SPEC": str(spec_path),
        "MLMON_PORT": str(port),
        "MLMON_HOST": "127.0.0.1",
        "MLMON_FLUSH_INTERVAL_S": "0.1",
        "MLMON_REPLAY_INTERVAL_S": "0.5",
        "MLMON_BULK_SIZE": "50",
        "MLMON_PII_HASH_KEY": "integration-key",
        "MLMON_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def model_dir(trained_model_dir: Path) -> Path:
    return trained_model_dir


@pytest.fixture
def spec(model_dir: Path) -> ModelSpec:
    return load_model(model_dir).spec


@pytest.fixture
def proxy(es_process: Any) -> Iterator[TcpProxy]:
    port = int(es_process.url.rsplit(":", 1)[1].strip("/"))
    with TcpProxy(port) as proxy:
        yield proxy


def _start(model_dir: Path, spec_path: Path, proxy: TcpProxy, var_dir: Path, log: Path) -> Any:
    port = free_port()
    env = _server_env(model_dir, spec_path, proxy.url, var_dir, port)
    return managed(
        [sys.executable, "-m", "model_server"], log, ready_url=f"http://127.0.0.1:{port}/readyz", timeout=60, env=env
    ), f"http://127.0.0.1:{port}"


def _send(client: httpx.Client, base: str, instance: dict[str, Any], n: int) -> tuple[list[str], list[float]]:
    ids, latencies = [], []
    for i in range(n):
        body = {**instance, "income": 20_000.0 + i, "postcode": f"PC{i % 7}"}
        started = time.perf_counter()
        response = client.post(f"{base}/predict", json=body)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        ids.append(response.json()["prediction_id"])
    return ids, latencies


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _ready(client: httpx.Client, base: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"{base}/readyz").json()
    return body


def _stored_ids(es_url: str, spec: ModelSpec) -> list[str]:
    store = ElasticsearchStore(es_url, spec)
    try:
        store.refresh()
        window = TimeWindow(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
        return list(store.read_window(window, fields=["postcode"])["prediction_id"])
    finally:
        store.close()


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _assert_latency_normal(before: list[float], during: list[float]) -> None:
    """The store outage is off the request path. Loose bounds: the machine is shared, but a request that
    waited for the store would take the client's 10 s timeout."""
    assert max(during) < 5.0, sorted(during)[-5:]
    assert statistics.median(during) < 2 * statistics.median(before) + 0.05


def _spec_file(model_dir: Path) -> Path:
    return load_model(model_dir).registered.path / "spec.yaml"


def test_outage_mid_stream_loses_and_duplicates_nothing(
    model_dir: Path, spec: ModelSpec, proxy: TcpProxy, es_process: Any, tmp_path: Path
) -> None:
    instance = example_instance(spec)
    ctx, base = _start(model_dir, _spec_file(model_dir), proxy, tmp_path / "var", tmp_path / "server.log")
    with ctx as server, httpx.Client(timeout=10) as client:
        before, lat_before = _send(client, base, instance, N_BEFORE)
        _wait_for(lambda: _ready(client, base)["queue_depth"] == 0, 10, "the first events to be written")

        proxy.cut()
        during, lat_during = _send(client, base, instance, N_DURING)
        _wait_for(lambda: _ready(client, base)["store"] == "spooling", 15, "/readyz to report spooling")
        ready = client.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["spool_bytes"] > 0
        _assert_latency_normal(lat_before, lat_during)

        proxy.restore()
        after, _ = _send(client, base, instance, N_AFTER)
        _wait_for(
            lambda: (
                _ready(client, base)["store"] == "ok"
                and _ready(client, base)["spool_bytes"] == 0
                and _ready(client, base)["queue_depth"] == 0
            ),
            30,
            "the spool to be replayed",
        )
        metrics = client.get(f"{base}/metrics").text
        assert _metric(metrics, "mlmon_inference_events_total", outcome="spooled") >= 1
        assert _metric(metrics, "mlmon_inference_events_total", outcome="dropped") == 0
        assert _metric(metrics, "mlmon_backend_errors_total", backend="elasticsearch") >= 1
        server_log = server.log_text()

    served = before + during + after
    stored = _stored_ids(es_process.url, spec)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert sorted(stored) == sorted(served), server_log[-3000:]
    assert "spooling" in server_log


def test_restart_with_a_non_empty_spool_replays_exactly_once(
    model_dir: Path, spec: ModelSpec, proxy: TcpProxy, es_process: Any, tmp_path: Path
) -> None:
    instance = example_instance(spec)
    var_dir = tmp_path / "var"
    spool_dir = var_dir / "spool" / spec.model
    proxy.cut()  # the store is down for the whole life of the first process
    ctx, base = _start(model_dir, _spec_file(model_dir), proxy, var_dir, tmp_path / "first.log")
    with ctx as first, httpx.Client(timeout=10) as client:
        served, _ = _send(client, base, instance, N_DURING)
        _wait_for(lambda: _ready(client, base)["store"] == "spooling", 15, "/readyz to report spooling")
        first.stop()  # SIGTERM: the queue is flushed into the spool on shutdown
    first_log = first.log_path.read_text()
    # uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status is -15 (or 0 on older uvicorn)
    assert first.proc.returncode in (0, -signal.SIGTERM), first_log[-3000:]
    assert "Application shutdown complete" in first_log
    assert any(spool_dir.glob("*.jsonl")), "nothing was spooled"
    assert _stored_ids(es_process.url, spec) == []

    proxy.restore()
    ctx, base = _start(model_dir, _spec_file(model_dir), proxy, var_dir, tmp_path / "second.log")
    second: ManagedProcess
    with ctx as second, httpx.Client(timeout=10) as client:
        more, _ = _send(client, base, instance, N_AFTER)
        _wait_for(
            lambda: (
                _ready(client, base)["store"] == "ok"
                and _ready(client, base)["spool_bytes"] == 0
                and _ready(client, base)["queue_depth"] == 0
            ),
            30,
            "the old spool to be replayed",
        )
        second_log = second.log_text()
    stored = _stored_ids(es_process.url, spec)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert sorted(stored) == sorted(served + more), second_log[-3000:]
    assert not any(spool_dir.glob("*.jsonl"))


def test_hung_store_sigstop_keeps_serving_and_loses_nothing(
    model_dir: Path, spec: ModelSpec, es_process: Any, tmp_path: Path
) -> None:
    """SIGSTOP on the store process: connections hang (no refusal) until the client's timeout."""
    instance = example_instance(spec)
    port = free_port()
    env = _server_env(model_dir, _spec_file(model_dir), es_process.url, tmp_path / "var", port)
    base = f"http://127.0.0.1:{port}"
    with (
        managed(
            [sys.executable, "-m", "model_server"],
            tmp_path / "server.log",
            ready_url=f"{base}/readyz",
            timeout=60,
            env=env,
        ) as server,
        httpx.Client(timeout=30) as client,
    ):
        before, lat_before = _send(client, base, instance, 30)
        _wait_for(lambda: _ready(client, base)["queue_depth"] == 0, 10, "the first events to be written")
        os.kill(es_process.pid, signal.SIGSTOP)
        try:
            during, lat_during = _send(client, base, instance, 60)
            _wait_for(lambda: _ready(client, base)["store"] == "spooling", 30, "/readyz to report spooling")
            more, lat_more = _send(client, base, instance, 30)
            _assert_latency_normal(lat_before, lat_during + lat_more)
        finally:
            os.kill(es_process.pid, signal.SIGCONT)
        _wait_for(
            lambda: (
                _ready(client, base)["store"] == "ok"
                and _ready(client, base)["spool_bytes"] == 0
                and _ready(client, base)["queue_depth"] == 0
            ),
            90,
            "the store to take every event",
        )
        server_log = server.log_text()
    stored = _stored_ids(es_process.url, spec)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert sorted(stored) == sorted(before + during + more), server_log[-3000:]
