"""Scoring runs in worker threads: health checks and /metrics answer while saturating batches are scored."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd

from mlmon.registry.scoring import Scored
from mlmon.registry.serving import LoadedModel
from model_server.schemas import example_instance
from tests.conftest import wait_until
from tests.unit.model_server.conftest import LiveServer


class GatedModel:
    """The real model, but each ``score`` call waits for the test to open the gate (bounded)."""

    def __init__(self, model: LoadedModel) -> None:
        self._model = model
        self.gate = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def score(self, rows: pd.DataFrame) -> Scored:
        with self._lock:
            self.entered += 1
        if not self.gate.wait(60):
            raise TimeoutError("gate never opened")
        return self._model.score(rows)


def test_health_readiness_and_metrics_answer_while_batches_are_scored(
    live_server: Callable[..., LiveServer], small_model: LoadedModel
) -> None:
    model = GatedModel(small_model)
    server = live_server(model=model)
    batch = {"instances": [example_instance(small_model.spec)] * 256}
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(client.post, "/predict", json=batch) for _ in range(4)]
        try:
            # MLMON_SCORING_THREADS (2) batches are inside the model, the other two wait for a thread
            wait_until(lambda: model.entered >= 2, 30, "two batches inside the model")
            answers = [client.get(path, timeout=20) for path in ("/healthz", "/readyz", "/metrics")]
            still_scoring = [not f.done() for f in in_flight]
            inside = model.entered
        finally:
            model.gate.set()
        responses = [f.result(timeout=60) for f in in_flight]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(still_scoring), "a batch finished before the health checks were answered"
    assert inside == 2  # no more threads than MLMON_SCORING_THREADS score at once
    assert [r.status_code for r in responses] == [200] * 4
    assert all(len(r.json()["predictions"]) == 256 for r in responses)
