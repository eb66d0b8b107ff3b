"""Several workers: ``python -m model_server --workers 2`` as a real process tree (master + 2 uvicorn workers)
with the tiny model and a SQLite store. Requests are spread over the workers (each answer names its worker),
any worker's ``/metrics`` sums the counters of both (counts checked exactly), and after a SIGTERM of the master
every acknowledged prediction of every worker is in the store once."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlmon.instrument.multiprocess import child_environment
from tests.conftest import REPO, free_port, require_binary, wait_until
from tests.fixtures.tiny_model import TinyModel, tiny_instance, write_tiny_model

pytestmark = pytest.mark.integration

WORKER = "x-mlmon-worker"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


class Workers:
    def __init__(self, tiny: TinyModel, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.db = workdir / "events.db"
        self.log_root = workdir / "var" / "log" / "tiny"
        self.multiproc = workdir / "multiproc"
        self.multiproc.mkdir()
        (self.multiproc / "counter_999999.db").write_bytes(b"left by an earlier run")  # must be wiped
        self.server_log = workdir / "server.log"
        environment = {
            **child_environment(),
            "MLMON_STORE": f"sqlite:///{self.db}",
            "MLMON_MODEL_PATH": str(tiny.model_dir),
            "MLMON_MODEL_SPEC": str(tiny.spec_path),
            "MLMON_VAR_DIR": str(workdir / "var"),
            "MLMON_HOST": "127.0.0.1",
            "MLMON_PORT": str(self.port),
            "MLMON_PII_HASH_KEY": "workers-test-key",
            "MLMON_LOG_LEVEL": "INFO",
            "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc),
            **env,
        }
        with open(self.server_log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "model_server", "--workers", "2"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                cwd=REPO,
            )

    def tail(self) -> str:
        return self.server_log.read_text(errors="replace")[-4000:]

    def get(self, path: str) -> httpx.Response | None:
        """A request on a new connection, so the kernel may hand it to either worker."""
        try:
            return httpx.get(self.url + path, timeout=10)
        except httpx.HTTPError:
            return None

    def wait_both_ready(self) -> set[str]:
        seen: set[str] = set()

        def both() -> set[str] | None:
            assert self.proc.poll() is None, self.tail()
            response = self.get("/readyz")
            if response is not None and response.status_code == 200:
                seen.add(response.headers.get(WORKER, "?"))
            return seen if len(seen) == 2 else None

        try:
            wait_until(both, 90, "both workers ready", step=0.05)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None
        return seen

    def predict_spread(self, at_least_each: int) -> tuple[Counter[str], list[str], int]:
        """Single-row predictions on new connections until each worker answered ``at_least_each`` (bounded):
        (answers per worker, acknowledged ids, requests)."""
        per_worker: Counter[str] = Counter()
        ids: list[str] = []
        for i in range(2000):
            response = httpx.post(self.url + "/predict", json=tiny_instance(i), timeout=30)
            assert response.status_code == 200, response.text
            per_worker[response.headers[WORKER]] += 1
            ids.append(response.json()["prediction_id"])
            if len(per_worker) == 2 and min(per_worker.values()) >= at_least_each:
                break
        assert len(per_worker) == 2 and min(per_worker.values()) >= at_least_each, per_worker
        return per_worker, ids, len(ids)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"the master did not stop within {timeout}s of SIGTERM\n{self.tail()}") from None
        return int(self.proc.returncode)


@pytest.fixture
def workers(tmp_path: Path, tiny: TinyModel, request: pytest.FixtureRequest) -> Iterator[Workers]:
    env: dict[str, str] = getattr(request, "param", {})
    server = Workers(tiny, tmp_path, **env)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def _sum(page: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in page.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_of_any_worker_sum_the_counters_of_both(workers: Workers) -> None:
    pids = workers.wait_both_ready()
    assert not (workers.multiproc / "counter_999999.db").exists()  # the master wiped the directory
    per_worker, _, single = workers.predict_spread(at_least_each=5)
    assert set(per_worker) == pids
    batch = httpx.post(workers.url + "/predict", json={"instances": [tiny_instance(i) for i in range(7)]}, timeout=30)
    assert batch.status_code == 200
    predictions = single + 1
    instances = single + 7

    # Both workers answered predictions; whichever answers a scrape must show the sums of both.
    page = ""
    for _ in range(10):
        response = workers.get("/metrics")
        assert response is not None and response.status_code == 200
        page = response.text
        assert _sum(page, "mlmon_requests_total", endpoint="/predict", status="200") == predictions
        assert _sum(page, "mlmon_request_duration_seconds_count", endpoint="/predict") == predictions
        assert _sum(page, "mlmon_responses_total", kind="ok") == instances
        assert _sum(page, "mlmon_prediction_count") == instances
        assert "pid=" not in page  # every gauge has a mode that merges the workers
        in_flight = [ln for ln in page.splitlines() if ln.startswith("mlmon_requests_in_flight{")]
        assert len([ln for ln in in_flight if 'model_version="tiny0001"' in ln]) == 1, in_flight
    promtool = require_binary("promtool")
    checked = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # each worker logs to its own directory, named after its pid
    owners = {re.sub(r"^p(\d+)-.*$", r"\1", d.name) for d in workers.log_root.iterdir() if d.is_dir()}
    assert pids <= owners, (pids, owners)
    assert workers.stop() == 0


@pytest.mark.parametrize(
    "workers",
    # nothing shipped before the SIGTERM: the workers must ship their logs on the way out
    [{"MLMON_FLUSH_INTERVAL_S": "600", "MLMON_BULK_SIZE": "100000", "MLMON_LOG_CLOSE_TIMEOUT_S": "30"}],
    indirect=True,
)
def test_every_workers_events_reach_the_store_after_sigterm_of_the_master(workers: Workers) -> None:
    pids = workers.wait_both_ready()
    per_worker, ids, _ = workers.predict_spread(at_least_each=10)
    batch = httpx.post(workers.url + "/predict", json={"instances": [tiny_instance(i) for i in range(5)]}, timeout=30)
    assert batch.status_code == 200
    ids += [p["prediction_id"] for p in batch.json()["predictions"]]
    assert set(per_worker) == pids
    with sqlite3.connect(workers.db) as conn:
        before = conn.execute("SELECT COUNT(*) FROM events_tiny").fetchone()[0]
    assert before < len(ids)  # most events were still in the workers' local logs

    assert workers.stop() == 0
    for pid in pids:  # every worker exited
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    with sqlite3.connect(workers.db) as conn:
        stored = [row[0] for row in conn.execute("SELECT prediction_id FROM events_tiny")]
    counts = Counter(stored)
    assert len(stored) == len(ids) == len(set(ids))
    assert set(counts) == set(ids) and max(counts.values()) == 1
    assert [d for d in workers.log_root.iterdir() if d.is_dir()] == []  # each worker emptied and removed its log
    assert "Traceback" not in workers.tail()
