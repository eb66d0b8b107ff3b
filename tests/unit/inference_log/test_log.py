"""The inference log end to end with a real SQLite store: durable appends, shipping, outages, adoption."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlmon.errors import InferenceLogFull, InferenceLogUnavailable
from mlmon.inference_log import InferenceLog
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import REPO, wait_until
from tests.fixtures.tiny_model import tiny_events, tiny_spec
from tests.unit.inference_log.helpers import Faulty, make_log, outcome, stored_ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "events.db", tiny_spec())
    yield store
    store.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "log" / "tiny"


@pytest.fixture
def logs() -> Iterator[list[InferenceLog]]:
    opened: list[InferenceLog] = []
    yield opened
    for log in opened:
        log.close(timeout=0.3)


def _start(logs: list[InferenceLog], log: InferenceLog) -> InferenceLog:
    log.start()
    logs.append(log)
    return log


def _worker_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_appended_events_are_shipped_once_and_the_log_empties(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    registry = CollectorRegistry()
    log = _start(logs, make_log(root, store, registry, bulk_size=7))
    sent = []
    for i in range(10):
        events = tiny_events(5, start=5 * i)
        assert log.append(events)
        sent += [e.prediction_id for e in events]
    assert log.flush(10)
    assert sorted(stored_ids(store)) == sorted(sent)
    status = log.status()
    assert status.ready and status.store == "ok" and status.lag_events == 0
    assert outcome(registry, "stored") == 50 and outcome(registry, "spooled") == 0
    log.close()
    assert not root.exists() or _worker_dirs(root) == []  # a clean, fully shipped shutdown leaves nothing


def test_appends_from_many_threads_with_fsync_always_are_each_stored_once(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    log = _start(logs, make_log(root, store, fsync="always", bulk_size=50))
    ids: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(25):
            events = tiny_events(2, start=1000 * k + 2 * i)
            log.append(events)
            with lock:
                ids.extend(e.prediction_id for e in events)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert log.flush(20)
    stored = stored_ids(store)
    assert len(stored) == len(set(stored)) == 400
    assert set(stored) == set(ids)


def test_store_outage_keeps_events_in_the_log_then_ships_them(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    registry = CollectorRegistry()
    sink = Faulty(store)
    log = _start(logs, make_log(root, sink, registry))
    first = tiny_events(10)
    log.append(first)
    assert log.flush(10)
    sink.down = True
    during = tiny_events(30, start=100)
    for i in range(0, 30, 5):
        log.append(during[i : i + 5])  # never blocks, never refused: the log is on disk
    status = wait_until(lambda: (s := log.status()).store == "spooling" and s, 10, "spooling")
    assert status.ready and status.lag_events == 30 and status.bytes > 0
    assert "injected outage" in (status.store_reason or "")
    sink.down = False
    assert log.flush(10)
    stored = stored_ids(store)
    assert sorted(stored) == sorted(e.prediction_id for e in first + during)
    assert outcome(registry, "spooled") == 30 and outcome(registry, "stored") == 40
    assert log.status().store == "ok"


def test_events_the_store_refuses_are_dead_lettered_and_never_block_the_rest(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    registry = CollectorRegistry()
    log = _start(logs, make_log(root, store, registry, bulk_size=100))
    before = tiny_events(5)
    wrong_type = tiny_events(2, start=10, x="not a number")  # the store answers: rejected, with the reason
    surrogate = tiny_events(1, start=20, store_id="\ud800")  # a string no store can encode
    after = tiny_events(40, start=30)
    for batch in (before, wrong_type, surrogate, after):
        log.append(batch)
    assert log.flush(10)
    good = before + after
    assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in good)
    letters = json.loads("[" + ",".join((root / "dead-letter.jsonl").read_text().splitlines()) + "]")
    by_id = {d["prediction_id"]: d for d in letters}
    assert set(by_id) == {e.prediction_id for e in wrong_type + surrogate}
    assert "expected a number" in by_id[wrong_type[0].prediction_id]["reason"]
    assert "surrogate" in by_id[surrogate[0].prediction_id]["reason"]
    assert by_id[surrogate[0].prediction_id]["event"]["features"]["store_id"] == "\ud800"  # the event as logged
    assert outcome(registry, "dead_lettered") == 3 and outcome(registry, "stored") == 45
    status = log.status()
    assert status.ready and status.events["dead_lettered"] == 3 and status.dead_letter_file.endswith(".jsonl")


def test_a_batch_that_raises_is_bisected_down_to_the_bad_event(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    class Raising(Faulty):
        """Raises (not StoreUnavailable) on any batch holding a marked event, like a client that cannot
        serialise it; the rest of the store works."""

        def write_events(self, events):
            if any(e.features.get("store_id") == "boom" for e in events):
                self.calls.append([e.prediction_id for e in events])
                raise RuntimeError("cannot serialise the request body")
            return super().write_events(events)

    registry = CollectorRegistry()
    sink = Raising(store)
    log = _start(logs, make_log(root, sink, registry, bulk_size=64))
    before, bad, after = tiny_events(30), tiny_events(1, start=100, store_id="boom"), tiny_events(33, start=200)
    log.append(before + bad + after)  # one batch of 64 with the bad event in the middle
    assert log.flush(10)
    assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in before + after)
    [letter] = json.loads("[" + ",".join((root / "dead-letter.jsonl").read_text().splitlines()) + "]")
    assert letter["prediction_id"] == bad[0].prediction_id and "RuntimeError" in letter["reason"]
    assert len(sink.calls) <= 2 * 7  # halving 64 down to 1: a bounded number of writes
    assert outcome(registry, "dead_lettered") == 1 and outcome(registry, "stored") == 63
    assert log.status().store == "ok"


def test_an_error_that_is_really_an_outage_dead_letters_nothing(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    class Broken(Faulty):
        """Raises something other than StoreUnavailable while its ping fails: an outage after all."""

        def write_events(self, events):
            if self.down:
                raise OSError("disk I/O error")
            return super().write_events(events)

    sink = Broken(store)
    sink.down = True
    log = _start(logs, make_log(root, sink))
    events = tiny_events(6)
    log.append(events)
    wait_until(lambda: log.status().store == "spooling", 10, "spooling")
    assert not (root / "dead-letter.jsonl").exists()
    sink.down = False
    assert log.flush(10)
    assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in events)


def test_a_full_log_refuses_and_is_not_ready_until_the_store_drains_it(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    registry = CollectorRegistry()
    sink = Faulty(store)
    sink.down = True
    log = _start(logs, make_log(root, sink, registry, max_bytes=4096))
    accepted: list[str] = []
    refused = 0
    for i in range(40):
        events = tiny_events(1, start=i)
        try:
            log.append(events)
            accepted.append(events[0].prediction_id)
        except InferenceLogFull as exc:
            refused += 1
            assert "full" in exc.message
    assert refused > 0 and accepted
    # the store is down (once the shipper has tried it) and the log cannot take more
    status = wait_until(lambda: (s := log.status()).store == "unavailable" and s, 10, "store unavailable")
    assert not status.ready and status.full and "full" in (status.reason or "")
    assert outcome(registry, "refused") == refused and outcome(registry, "dropped") == 0
    sink.down = False
    wait_until(lambda: log.status().ready, 10, "ready again once shipped")
    assert log.flush(10)
    assert sorted(stored_ids(store)) == sorted(accepted)  # every accepted event, none of the refused ones
    log.append(tiny_events(1, start=99))  # takes events again


def test_drop_policy_serves_and_counts_dropped_events(store: SQLiteStore, root: Path, logs: list[InferenceLog]) -> None:
    registry = CollectorRegistry()
    sink = Faulty(store)
    sink.down = True
    log = _start(logs, make_log(root, sink, registry, max_bytes=2048, on_full="drop"))
    results = [log.append(tiny_events(1, start=i)) for i in range(20)]
    assert False in results
    assert outcome(registry, "dropped") == results.count(False)
    assert not log.status().ready  # dropping acknowledged events is not ready (by default)


def test_a_log_left_by_a_killed_process_is_adopted_and_shipped(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    """A real kill -9: the child appends (store down) and kills itself; nothing of it was shipped."""
    child = f"""
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {str(REPO)!r})
from mlmon.errors import StoreUnavailable
from mlmon.inference_log import InferenceLog, LogConfig
from tests.fixtures.tiny_model import tiny_events

class Down:
    backend = "sqlite"
    def write_events(self, events):
        raise StoreUnavailable("down")
    def ping(self):
        return False

log = InferenceLog(Path(sys.argv[1]), Down(), config=LogConfig(fsync="never", retry_interval_s=60),
                   model="tiny", model_version="tiny0001")
log.start()
ids = []
for i in range(20):
    events = tiny_events(5, start=5 * i)
    log.append(events)
    ids += [e.prediction_id for e in events]
print(json.dumps(ids), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", child, str(root)], capture_output=True, timeout=60, cwd=REPO)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    acknowledged = json.loads(done.stdout)
    [orphan] = _worker_dirs(root)
    assert stored_ids(store) == []

    log = _start(logs, make_log(root, store))
    wait_until(lambda: len(stored_ids(store)) >= 100 and log.status().adopted_logs == 0, 15, "the orphan shipped")
    stored = stored_ids(store)
    assert sorted(stored) == sorted(acknowledged) and len(set(stored)) == len(stored)
    assert not orphan.exists()


def test_a_clean_shutdown_during_an_outage_leaves_the_log_for_the_next_start(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    sink = Faulty(store)
    sink.down = True
    first = make_log(root, sink)
    first.start()
    events = tiny_events(12)
    first.append(events)
    first.close(timeout=0.3)
    [left] = _worker_dirs(root)
    assert any(left.glob("*.jsonl"))
    with pytest.raises(InferenceLogUnavailable):
        first.append(tiny_events(1))

    second = _start(logs, make_log(root, store))
    assert second.flush(10)
    wait_until(lambda: not left.exists(), 10, "the adopted directory to be removed")
    assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in events)


def test_live_logs_do_not_adopt_each_other(store: SQLiteStore, root: Path, logs: list[InferenceLog]) -> None:
    sink = Faulty(store)
    sink.down = True
    a = _start(logs, make_log(root, sink))
    b = _start(logs, make_log(root, sink))
    a.append(tiny_events(3))
    b.append(tiny_events(4, start=10))
    assert a._shipper is not None and b._shipper is not None
    rounds = (a._shipper._next_adopt, b._shipper._next_adopt)
    wait_until(
        lambda: a._shipper._next_adopt > rounds[0] and b._shipper._next_adopt > rounds[1], 10, "an adoption round each"
    )
    assert a.status().adopted_logs == 0 and b.status().adopted_logs == 0
    assert (a.status().lag_events, b.status().lag_events) == (3, 4)
    assert len(_worker_dirs(root)) == 2


def test_resume_from_the_checkpoint_ships_only_what_follows_it(store: SQLiteStore, root: Path) -> None:
    sink = Faulty(store)
    first = make_log(root, sink, bulk_size=5)
    first.start()
    shipped = tiny_events(10)
    first.append(shipped)
    assert first.flush(10)
    sink.down = True
    waiting = tiny_events(7, start=50)
    first.append(waiting)
    first.close(timeout=0.2)

    sink.down = False
    sink.calls.clear()
    second = make_log(root, sink, bulk_size=5)
    second.start()
    try:
        assert second.flush(10)
        written = [pid for call in sink.calls for pid in call]
        assert set(written) == {e.prediction_id for e in waiting}  # nothing before the checkpoint again
    finally:
        second.close(timeout=1)


def test_torn_and_corrupt_lines_are_dead_lettered_and_the_rest_shipped(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    from mlmon.inference_log.codec import encode

    orphan = root / "p1-dead"
    orphan.mkdir(parents=True)
    (orphan / "LOCK").touch()
    good = tiny_events(4)
    lines = encode(good[:2]) + b"\x00\x00garbage\n" + encode(good[2:])
    (orphan / "000000000001.jsonl").write_bytes(lines)
    (orphan / "000000000002.jsonl").write_bytes(encode(tiny_events(1, start=9))[:30])  # torn by a crash
    log = _start(logs, make_log(root, store))
    wait_until(lambda: not orphan.exists(), 10, "the orphan to be shipped")
    assert sorted(stored_ids(store)) == sorted(e.prediction_id for e in good)
    reasons = sorted(
        json.loads(line)["reason"].split(":")[0] for line in (root / "dead-letter.jsonl").read_text().splitlines()
    )
    assert reasons == ["corrupt line in the local log", "torn line"]
    assert log.status().events["dead_lettered"] == 2


def test_a_hanging_store_is_reported_and_appends_never_wait(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    sink = Faulty(store)
    log = _start(logs, make_log(root, sink, bulk_size=1))
    sink.hang()
    log.append(tiny_events(1))
    assert sink.entered.wait(10)
    for i in range(20):
        log.append(tiny_events(1, start=10 + i))  # the shipper is stuck in the store; appends go on
    status = wait_until(lambda: (s := log.status()).store == "spooling" and s, 10, "the stall to show")
    assert "not answered" in (status.store_reason or "") and status.ready and status.lag_events == 21
    sink.release()
    assert log.flush(10)
    assert len(stored_ids(store)) == 21


def test_fsync_policies_always_syncs_before_returning_and_interval_within_its_period(
    store: SQLiteStore, root: Path, logs: list[InferenceLog]
) -> None:
    always = _start(logs, make_log(root / "a", store, fsync="always"))
    always.append(tiny_events(3))
    assert always._own is not None and not always._own.unsynced  # durable when append returns

    interval = _start(logs, make_log(root / "i", store, fsync="interval", fsync_interval_s=0.2))
    interval.append(tiny_events(3, start=10))
    own = interval._own
    assert own is not None
    wait_until(lambda: not own.unsynced, 10, "the periodic fsync")


def test_a_stale_half_created_directory_is_cleaned_up(store: SQLiteStore, root: Path, logs: list[InferenceLog]) -> None:
    import os

    staging = root / ".new-p1-abandoned"
    staging.mkdir(parents=True)
    (staging / "LOCK").touch()
    os.utime(staging, (0, 0))  # long ago: a process died between creating and renaming it
    fresh = root / ".new-p2-being-made"
    fresh.mkdir()
    (fresh / "LOCK").touch()
    _start(logs, make_log(root, store))
    assert not staging.exists() and fresh.exists()
