"""Shipping from a child process (``MLMON_LOG_SHIPPER=process``): the same outcomes as the thread, a child that
dies is an outage followed by a new child, and the child never outlives its server."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlmon.inference_log import InferenceLog
from mlmon.inference_log.ship_process import ProcessDelivery
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import REPO, wait_until
from tests.fixtures.tiny_model import tiny_events, tiny_spec
from tests.unit.inference_log.helpers import make_log, outcome, stored_ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "events.db", tiny_spec())
    yield store
    store.close()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _child(log: InferenceLog) -> ProcessDelivery:
    shipper = log._shipper
    assert shipper is not None and isinstance(shipper.deliverer, ProcessDelivery)
    return shipper.deliverer


def test_a_child_process_stores_the_events_and_dead_letters_what_the_store_refuses(
    store: SQLiteStore, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    factory = functools.partial(SQLiteStore, store.path, tiny_spec())
    log = make_log(tmp_path / "log", store, registry, sink_factory=factory, bulk_size=7)
    log.start()
    try:
        good = tiny_events(20)
        refused = replace(tiny_events(1, start=99)[0], model_name="another_model")
        assert log.append(good[:10]) and log.append([refused]) and log.append(good[10:])
        assert log.flush(30)
        child = _child(log).pid
        assert child is not None and child != os.getpid() and _alive(child)
        assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in good)
        [letter] = [json.loads(line) for line in (tmp_path / "log" / "dead-letter.jsonl").read_text().splitlines()]
        assert letter["prediction_id"] == refused.prediction_id and "another_model" in letter["reason"]
        assert outcome(registry, "stored") == 20 and outcome(registry, "dead_lettered") == 1
        assert log.status().store == "ok"
    finally:
        log.close()
    wait_until(lambda: not _alive(child), 10, "the shipping process to end with the log")


def test_a_shipping_process_that_dies_is_an_outage_then_a_new_one_ships_everything(
    store: SQLiteStore, tmp_path: Path
) -> None:
    factory = functools.partial(SQLiteStore, store.path, tiny_spec())
    log = make_log(tmp_path / "log", store, sink_factory=factory)
    log.start()
    try:
        first = tiny_events(5)
        assert log.append(first) and log.flush(30)
        killed = _child(log).pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: not _alive(killed), 10, "the shipping process to die")
        second = tiny_events(5, start=5)
        assert log.append(second) and log.flush(30)
        assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in first + second)
        assert _child(log).pid not in (None, killed)
    finally:
        log.close()


SERVER = """
import functools, sys, time
from pathlib import Path
from mlmon.store.sqlite import SQLiteStore
from tests.fixtures.tiny_model import tiny_events, tiny_spec
from tests.unit.inference_log.helpers import make_log
db, root = Path(sys.argv[1]), Path(sys.argv[2])
store = SQLiteStore(db, tiny_spec())
log = make_log(root, store, sink_factory=functools.partial(SQLiteStore, db, tiny_spec()))
log.start()
assert log.append(tiny_events(3)) and log.flush(30)
print(log._shipper.deliverer.pid, flush=True)
time.sleep(120)
"""


def test_the_shipping_process_dies_with_a_killed_server(store: SQLiteStore, tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(store.path), str(tmp_path / "log")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        child = int(server.stdout.readline())
        assert _alive(child) and len(stored_ids(store)) == 3
        server.kill()  # kill -9: no shutdown code runs
        server.wait(10)
        wait_until(lambda: not _alive(child), 10, "the shipping process to die with its server")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def test_the_thread_mode_ships_from_this_process(store: SQLiteStore, tmp_path: Path) -> None:
    from mlmon.inference_log import LogConfig
    from mlmon.inference_log.delivery import LocalDelivery
    from mlmon.settings import ModelServerSettings

    assert LogConfig.from_settings(ModelServerSettings(log_shipper="thread")).shipper == "thread"
    assert LogConfig.from_settings(ModelServerSettings()).shipper == "process"
    factory = functools.partial(SQLiteStore, store.path, tiny_spec())
    log = make_log(tmp_path / "log", store, sink_factory=factory, shipper="thread")
    log.start()
    try:
        events = tiny_events(5)
        assert log.append(events) and log.flush(30)
        assert log._shipper is not None and isinstance(log._shipper.deliverer, LocalDelivery)
        assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in events)
    finally:
        log.close()
