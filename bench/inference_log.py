"""Cost of durable-before-acknowledged: the local inference log's append, per request, per fsync policy.

``InferenceLog.append`` is what ``/predict`` does before it answers: encode the request's events as JSON lines,
one ``write(2)`` into the local log, plus — with ``MLMON_LOG_FSYNC=always`` — an ``fdatasync`` shared by the
requests waiting at the same time (group commit). Measured with the shipper running against a real SQLite store,
as in the server: decoding and writing in a child process (``shipper=process``, the server's default) and in a
thread of the appending process (``shipper=thread``, where the appends share the GIL with the shipping):

- one event per request, 1 thread and 8 threads (group commit shares the sync);
- a batch of 256 events per request, 1 thread;

per policy: the append's wall time per request (p50, p99, mean µs), and the sustained events/s appended and
shipped (batches of 256 into SQLite, every event durable in the log before ``append`` returns).

    python -m bench inference_log
    python -m bench.inference_log --quick
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import record

POLICIES = ("never", "interval", "always")
SHIPPERS = ("process", "thread")


def _events(n: int, start: int = 0) -> list[Any]:
    from tests.fixtures.tiny_model import tiny_events

    return tiny_events(n, start=start)


def _open(root: Path, policy: str, shipper: str) -> tuple[Any, Any]:
    import functools

    from prometheus_client import CollectorRegistry

    from mlmon.inference_log import InferenceLog, LogConfig
    from mlmon.instrument.metrics import inference_log_metrics
    from mlmon.store.sqlite import SQLiteStore
    from tests.fixtures.tiny_model import VERSION, tiny_spec

    store = SQLiteStore(root / "events.db", tiny_spec())
    store.ensure_schema()
    log = InferenceLog(
        root / "log",
        store,
        config=LogConfig(fsync=policy, max_bytes=4 * 10**9, flush_interval_s=0.05, shipper=shipper),  # type: ignore[arg-type]
        metrics=inference_log_metrics(CollectorRegistry()),
        model="tiny",
        model_version=VERSION,
        sink_factory=functools.partial(SQLiteStore, root / "events.db", tiny_spec()),
    )
    log.start()
    return log, store


def _timed_appends(log: Any, batches: list[list[Any]], threads: int) -> tuple[list[float], float]:
    """Seconds per append call and the wall time of all, ``batches`` split over ``threads`` threads."""
    times: list[list[float]] = [[] for _ in range(threads)]
    go = threading.Event()

    def worker(k: int) -> None:
        go.wait(30)
        own = times[k]
        for batch in batches[k::threads]:
            t0 = time.perf_counter()
            log.append(batch)
            own.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in pool:
        t.join(600)
    return [x for own in times for x in own], time.perf_counter() - t0


def _row(policy: str, shipper: str, case: str, timed: tuple[list[float], float], n: int) -> dict[str, Any]:
    per_call, wall = timed
    us = sorted(x * 1e6 for x in per_call)
    return {
        "fsync": policy,
        "shipper": shipper,
        "case": case,
        "requests": len(us),
        "p50_us": round(statistics.median(us), 1),
        "p99_us": round(us[int(0.99 * (len(us) - 1))], 1),
        "mean_us": round(statistics.fmean(us), 1),
        "mean_us_per_event": round(statistics.fmean(us) / n, 2),
        "requests_per_s": round(len(us) / wall, 1),
    }


def measure(policy: str, shipper: str, requests: int, workdir: Path) -> tuple[list[dict[str, Any]], float]:
    log, store = _open(workdir / f"{policy}-{shipper}", policy, shipper)
    rows = []
    try:
        singles = [_events(1, start=i) for i in range(requests)]
        _timed_appends(log, singles[:200], 1)  # warm-up
        rows.append(_row(policy, shipper, "1 event, 1 thread", _timed_appends(log, singles, 1), 1))
        rows.append(_row(policy, shipper, "1 event, 8 threads", _timed_appends(log, singles, 8), 1))
        batches = [_events(256, start=256 * i) for i in range(max(100, requests // 10))]
        t0 = time.perf_counter()
        rows.append(_row(policy, shipper, "256 events, 1 thread", _timed_appends(log, batches, 1), 256))
        assert log.flush(600), "the shipper did not catch up"
        sustained = 256 * len(batches) / (time.perf_counter() - t0)
    finally:
        log.close()
        store.close()
    return rows, sustained


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inference_log", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="single-event requests per case")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    requests = 1000 if args.quick else args.requests
    rows: list[dict[str, Any]] = []
    sustained: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="mlmon-bench-log-", dir=Path.cwd()) as tmp:  # the disk, not tmpfs
        for policy in POLICIES:
            for shipper in SHIPPERS:
                policy_rows, rate = measure(policy, shipper, requests, Path(tmp))
                rows += policy_rows
                sustained[policy, shipper] = round(rate, 1)
    for row in rows:
        if row["case"].startswith("256"):
            row["sustained_events_per_s"] = sustained[row["fsync"], row["shipper"]]
    record(
        "inference_log",
        {
            "description": "local inference log: append cost per request (durable before the answer) per fsync policy",
            "reference": "fsync=never/interval: one write(2) into the page cache (survives kill -9); "
            "always: + fdatasync (survives a machine crash), shared by concurrent requests",
            "rows": rows,
            "notes": [
                "sustained_events_per_s: batches of 256 appended (one thread) and shipped into SQLite, until all are "
                "stored; shipper=process: decoded and written by the log's child process, thread: in this process",
                "wall time of InferenceLog.append as /predict calls it (JSON encoding included)",
            ],
        },
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
