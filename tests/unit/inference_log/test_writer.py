"""The writer against the real SQLite store; outages injected in front of it (``Outage``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mlmon.inference_log import InferenceLogWriter, Spool
from mlmon.instrument.metrics import inference_log_metrics
from mlmon.spec import ModelSpec, load_spec
from mlmon.store.base import InferenceEvent, TimeWindow, WriteResult
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import REPO
from tests.unit.inference_log.helpers import T0, Outage, make_events
from tests.unit.instrument.helpers import sample

BASE = {"model": "loan_default", "model_version": "v-test"}
WINDOW = TimeWindow(T0 - timedelta(days=1), T0 + timedelta(days=1))


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


@pytest.fixture
def store(tmp_path: Path, spec: ModelSpec) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "events.db", spec)
    yield store
    store.close()


def _writer(
    store: Any,
    spool_dir: Path,
    registry: CollectorRegistry,
    *,
    spool_max_bytes: int = 10_000_000,
    queue_size: int = 20_000,
    flush_interval_s: float = 0.05,
    replay_interval_s: float = 0.1,
) -> InferenceLogWriter:
    return InferenceLogWriter(
        store,
        Spool(spool_dir, max_bytes=spool_max_bytes),
        inference_log_metrics(registry),
        model="loan_default",
        model_version="v-test",
        backend="sqlite",
        queue_size=queue_size,
        bulk_size=50,
        flush_interval_s=flush_interval_s,
        replay_interval_s=replay_interval_s,
    )


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_events_from_many_threads_are_stored_once(store: SQLiteStore, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    writer = _writer(store, tmp_path / "spool", registry)
    writer.start()
    batches = [make_events(40, start=1000 * t) for t in range(5)]

    def submit_one_by_one(events: list[InferenceEvent]) -> None:
        for event in events:
            writer.submit([event])

    threads = [threading.Thread(target=submit_one_by_one, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert writer.flush(10)
    writer.close()
    assert store.count(WINDOW) == 200
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="stored") == 200
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="spooled") == 0
    assert sample(registry, "mlmon_inference_queue_depth", **BASE) == 0


def test_outage_spools_then_replays_in_order_before_new_events(store: SQLiteStore, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    outage = Outage(store)
    writer = _writer(outage, tmp_path / "spool", registry, replay_interval_s=0.3)
    writer.start()
    before = make_events(30)
    writer.submit(before)
    assert writer.flush(10)
    outage.down = True
    during = make_events(120, start=100)
    for i in range(0, 120, 10):
        writer.submit(during[i : i + 10])
    assert writer.flush(10)
    assert _wait(lambda: writer.spool.size_bytes > 0)
    assert writer.spooling
    assert store.count(WINDOW) == 30
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="spooled") == 120
    assert sample(registry, "mlmon_backend_errors_total", **BASE, backend="sqlite") >= 1
    assert sample(registry, "mlmon_inference_spool_bytes", **BASE) == writer.spool.size_bytes > 0

    outage.down = False
    after = make_events(20, start=500)
    writer.submit(after)
    assert _wait(lambda: not writer.spooling and writer.queue_depth == 0)
    assert writer.flush(10)
    writer.close()
    ids = [e.prediction_id for e in before + during + after]
    assert outage.written == ids  # spooled events first, in order, then the new ones; nothing twice
    assert store.count(WINDOW) == 170
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="stored") == 170
    assert sample(registry, "mlmon_inference_spool_bytes", **BASE) == 0


def test_full_queue_spools_instead_of_dropping(store: SQLiteStore, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    writer = _writer(store, tmp_path / "spool", registry, queue_size=25)  # not started: nothing drains
    writer.submit(make_events(10))
    writer.submit(make_events(30, start=10))
    assert writer.queue_depth == 25
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="spooled") == 15
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="dropped") == 0
    writer.start()
    assert _wait(lambda: not writer.spooling and writer.queue_depth == 0)
    writer.close()
    assert store.count(WINDOW) == 40


def test_spool_limit_drops_are_counted(store: SQLiteStore, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    outage = Outage(store)
    outage.down = True
    writer = _writer(outage, tmp_path / "spool", registry, spool_max_bytes=4096, replay_interval_s=60)
    writer.start()
    writer.submit(make_events(100))
    assert writer.flush(10)
    writer.close()
    spooled = sample(registry, "mlmon_inference_events_total", **BASE, outcome="spooled")
    dropped = sample(registry, "mlmon_inference_events_total", **BASE, outcome="dropped")
    assert 0 < spooled < 100 and spooled + dropped == 100
    assert writer.spool.size_bytes <= 4096


def test_shutdown_during_outage_spools_and_a_restart_replays_exactly_once(store: SQLiteStore, tmp_path: Path) -> None:
    outage = Outage(store)
    first = _writer(outage, tmp_path / "spool", CollectorRegistry(), flush_interval_s=5.0)
    first.start()
    written = make_events(40)
    first.submit(written[:20])
    assert first.flush(10)
    outage.down = True
    first.submit(written[20:])  # still in the queue (long flush interval) when the process stops
    first.close(timeout=5)
    assert store.count(WINDOW) == 20
    assert not Spool(tmp_path / "spool", max_bytes=10_000_000).is_empty()

    outage.down = False
    registry = CollectorRegistry()
    second = _writer(outage, tmp_path / "spool", registry)  # a new process on the same spool folder
    second.start()
    second.submit(make_events(5, start=900))
    assert _wait(lambda: not second.spooling and second.queue_depth == 0)
    assert second.flush(10)
    second.close()
    assert store.count(WINDOW) == 45
    assert len(set(outage.written)) == len(outage.written) == 45


def test_replay_of_events_already_stored_does_not_duplicate(store: SQLiteStore, tmp_path: Path) -> None:
    events = make_events(30)
    store.write_events(events[:10])  # a write that reached the store although the client saw a failure
    spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
    spool.append(events)
    spool.close()
    registry = CollectorRegistry()
    writer = _writer(store, tmp_path / "spool", registry)
    writer.start()
    assert _wait(lambda: not writer.spooling)
    writer.close()
    assert store.count(WINDOW) == 30


def test_events_the_store_refuses_are_counted_as_rejected(store: SQLiteStore, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    writer = _writer(store, tmp_path / "spool", registry)
    writer.start()
    writer.submit(make_events(3, model="other_model") + make_events(2, start=50))
    assert writer.flush(10)
    writer.close()
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="rejected") == 3
    assert sample(registry, "mlmon_inference_events_total", **BASE, outcome="stored") == 2


class _Hang:
    """A real store behind a gate: writes block until ``release`` (a stopped server, as a client sees it)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.gate = threading.Event()

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        self.gate.wait(20)
        return self.store.write_events(events)


def test_a_hanging_store_is_reported_and_requests_never_wait(store: SQLiteStore, tmp_path: Path) -> None:
    hang = _Hang(store)
    writer = InferenceLogWriter(
        hang,
        Spool(tmp_path / "spool", max_bytes=10_000_000),
        inference_log_metrics(CollectorRegistry()),
        model="loan_default",
        model_version="v-test",
        bulk_size=10,
        flush_interval_s=0.02,
        stall_after_s=0.3,
    )
    writer.start()
    started = time.perf_counter()
    for i in range(20):
        writer.submit(make_events(5, start=10 * i))
    assert time.perf_counter() - started < 0.5  # submit never waits for the store
    assert _wait(lambda: writer.spooling, 5)  # the stalled write shows in readiness
    hang.gate.set()
    assert _wait(lambda: not writer.spooling and writer.queue_depth == 0, 10)
    writer.close()
    assert store.count(WINDOW) == 100
