"""Serving overhead on a fast model, side by side: what mlmon adds per request beyond the model's own predict.

Servers (real uvicorn processes on 127.0.0.1, started once, measured in interleaved rounds so the shared
machine's background load hits them alike; ``bench/serving_apps.py`` has the apps and the models):

    bare            a plain ``def`` endpoint, pydantic request model, one-row DataFrame, ``predict_proba``
    instrumentator  bare + prometheus-fastapi-instrumentator (metrics only, no inputs logged)
    mlmon-metrics   bare + ``mlmon.instrument.instrument(app)`` and its recorders (metrics only)
    mlmon-sqlite    the reference server ``python -m model_server``: strict parsing, metrics, recorders, and the
                    inference log (every event on the local log before the answer, shipped to SQLite)
    mlmon-es        the same, shipping to the Elasticsearch-API test server (osmem-server)

Phases (load from wrk, ``bench/wrk.py``; every figure is a median over rounds unless said otherwise):

1. throughput: closed loop, ``--connections`` keep-alive connections, single-row requests → req/s, ratio to
   bare, server CPU per request (user+system CPU of the server and its processes — every thread, and the
   inference log's shipping process; not the store's own process — divided by the requests answered), added
   CPU = server − bare;
2. latency: one connection (no queueing: a request's latency is its service time), every sample of every round
   → p50/p99, added p99 = server − bare;
3. ``/healthz``, ``/readyz`` and ``/metrics`` latency (one connection each) while 256-row batches saturate
   mlmon-sqlite;
4. inference log sustained: 256-row batches into a fresh mlmon-sqlite server; events/s = events stored in SQLite
   / time from the first request until the last is stored; every acknowledged (200) prediction counted in the
   store, none dropped or refused;
5. workers: the reference server on a CPU-bound model (gradient boosting, a few ms of CPU per call), 1 vs 2
   workers, throughput ratio.

    python -m bench serving            # ~12 minutes
    python -m bench.serving --quick    # shorter rounds
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.common import record
from bench.serving_apps import BenchModel, instance, rows, write_model

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "throughput_ratio_with_log": 0.90,
    "added_p99_ms": 2.0,
    "two_workers_speedup": 1.7,
    "inference_log_events_per_s": 20_000.0,
    "healthz_p99_ms_under_batch_load": 20.0,
}
BATCH = 256


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and all its processes (workers, shipping processes; all threads)."""
        return sum(_cpu(pid) for pid in [self.proc.pid, *_children(self.proc.pid)])


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Every descendant: the workers, and each one's inference-log shipping process."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            direct = [int(p) for p in task.read_text().split()]
        except OSError:
            continue
        for child in direct:
            out += [child, *_children(child)]
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(name: str, args: Sequence[str], env: dict[str, str], workdir: Path, port: int) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "OMP_NUM_THREADS": "1", **env},
            cwd=REPO,
        )
    server = Server(name, f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def app_server(kind: str, model: BenchModel, workdir: Path) -> Any:
    port = _free_port()
    args = [sys.executable, "-m", "bench.serving_apps", kind, str(model.model_dir), str(port)]
    return _process(kind, args, {}, workdir, port)


def model_server(name: str, model: BenchModel, store: str, workdir: Path, workers: int = 1, **env: str) -> Any:
    port = _free_port()
    settings = {
        "MLMON_STORE": store,
        "MLMON_MODEL_PATH": str(model.model_dir),
        "MLMON_MODEL_SPEC": str(model.spec_path),
        "MLMON_VAR_DIR": str(workdir / name),
        "MLMON_HOST": "127.0.0.1",
        "MLMON_PORT": str(port),
        "MLMON_PII_HASH_KEY": "bench-key",
        "MLMON_LOG_LEVEL": "WARNING",
        **env,
    }
    args = [sys.executable, "-m", "model_server", "--workers", str(workers)]
    return _process(name, args, settings, workdir, port)


# --- phases -------------------------------------------------------------------------------------------------


def throughput_phase(
    servers: Sequence[Server], lua: Path, seconds: float, connections: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {s.name: {"req_per_s": [], "cpu_us_per_req": []} for s in servers}
    for k in range(rounds):
        for server in servers:
            before = server.cpu_seconds()
            result = wrk.run(server.url + "/predict", lua, seconds, connections)
            cpu = server.cpu_seconds() - before
            if result.errors:
                raise RuntimeError(f"{server.name}: {result.errors} failed requests")
            out[server.name]["req_per_s"].append(result.throughput)
            out[server.name]["cpu_us_per_req"].append(1e6 * cpu / max(1, result.requests))
        print(f"  round {k + 1}/{rounds}: " + ", ".join(f"{n} {v['req_per_s'][-1]:.0f}" for n, v in out.items()))
    return out


def latency_phase(servers: Sequence[Server], lua: Path, seconds: float, rounds: int) -> dict[str, list[wrk.WrkResult]]:
    out: dict[str, list[wrk.WrkResult]] = {s.name: [] for s in servers}
    for _ in range(rounds):
        for server in servers:
            result = wrk.run(server.url + "/predict", lua, seconds, 1)
            if result.errors:
                raise RuntimeError(f"{server.name}: {result.errors} failed requests")
            out[server.name].append(result)
    return out


def probes_under_batch_load(server: Server, workdir: Path, batch_lua: Path, seconds: float) -> dict[str, Any]:
    """Saturating 256-row batches on /predict (4 connections) while one connection each polls the probes."""
    probe_lua = wrk.script(workdir / "get.lua")
    load = wrk.start(server.url + "/predict", batch_lua, seconds, 4)
    time.sleep(0.5)  # the batches are in flight before the probes start
    probes = {
        path: wrk.start(server.url + path, probe_lua, seconds - 1, 1) for path in ("/healthz", "/readyz", "/metrics")
    }
    results = {path: wrk.finish(proc) for path, proc in probes.items()}
    batches = wrk.finish(load)
    out: dict[str, Any] = {
        "predict_batches_per_s": round(batches.throughput, 1),
        "predict_batch_p50_ms": round(batches.percentile_ms(50), 1),
    }
    for path, result in results.items():
        key = path.strip("/")
        out[f"{key}_p50_ms"] = round(result.percentile_ms(50), 2)
        out[f"{key}_p99_ms"] = round(result.percentile_ms(99), 2)
        out[f"{key}_samples"] = result.samples
        out[f"{key}_errors"] = result.errors
    return out


def _metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _stored(db: Path, model: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM events_{model}").fetchone()[0])


def sustained_log(
    model: BenchModel, workdir: Path, batch_lua: Path, seconds: float, workers: int = 1
) -> dict[str, Any]:
    """256-row batches into a fresh server with the SQLite store; counted in the store itself."""
    db = workdir / f"sustained-{workers}.db"
    with model_server(f"sustained-{workers}", model, f"sqlite:///{db}", workdir, workers) as server:
        if workers > 1:
            time.sleep(3)  # every worker up
        wrk.run(server.url + "/predict", batch_lua, 2, 2)  # warm-up: its events count in the store too
        deadline = time.monotonic() + 120
        while _stored(db, model.kind) < _metric(server.url, "mlmon_requests_total", endpoint="/predict") * BATCH:
            if time.monotonic() > deadline:
                raise TimeoutError("warm-up events not stored")
            time.sleep(0.05)
        before = _stored(db, model.kind)
        acknowledged_before = _metric(server.url, "mlmon_requests_total", endpoint="/predict", status="200")
        t0 = time.perf_counter()
        load = wrk.run(server.url + "/predict", batch_lua, seconds, 4)
        served_s = time.perf_counter() - t0
        acknowledged = (
            _metric(server.url, "mlmon_requests_total", endpoint="/predict", status="200") - acknowledged_before
        ) * BATCH
        deadline = time.monotonic() + 300
        while _stored(db, model.kind) - before < acknowledged:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        until_stored_s = time.perf_counter() - t0
        stored = _stored(db, model.kind) - before
        outcomes = {
            o: _metric(server.url, "mlmon_inference_events_total", outcome=o)
            for o in ("dropped", "refused", "dead_lettered")
        }
    return {
        "events_acknowledged": int(acknowledged),
        "events_stored": stored,
        "served_s": round(served_s, 2),
        "until_stored_s": round(until_stored_s, 2),
        "events_per_s": round(stored / until_stored_s, 1),
        "acknowledged_per_s": round(acknowledged / served_s, 1),
        "wrk_errors": load.errors,
        **{k: int(v) for k, v in outcomes.items()},
        "all_acknowledged_stored": stored == acknowledged,
        "fsync": os.environ.get("MLMON_LOG_FSYNC", "interval"),
        "workers": workers,
    }


def model_cost_us(model: BenchModel, n: int = 2000) -> float:
    """The model's own ``predict_proba`` on a one-row frame, in this process (best of 3)."""
    import pandas as pd

    from mlmon.registry.artifact import read_registered

    estimator = read_registered(model.model_dir).load_model()
    frame = pd.DataFrame([instance(rows(1), 0)])
    estimator.predict_proba(frame)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            estimator.predict_proba(frame)
        best = min(best, (time.perf_counter() - t0) / n)
    return round(best * 1e6, 1)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ["fastapi", "starlette", "uvicorn", "pydantic", "prometheus-client", "prometheus-fastapi-instrumentator"]
    out = {name: version(name) for name in [*names, "scikit-learn", "osmem-server"]}
    out["wrk"] = wrk.version()
    return out


# --- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="per server per round")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sustain-s", type=float, default=20.0)
    parser.add_argument("--no-es", action="store_true", help="skip the Elasticsearch-API server")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(sys.argv[2:] if argv is None and sys.argv[1:2] == ["serving"] else argv)
    if args.quick:
        args.rounds, args.seconds, args.sustain_s = 3, 3.0, 8.0
    wrk.require_wrk()
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="mlmon-bench-serving-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        fast, cpu = write_model(workdir / "models", "fast"), write_model(workdir / "models", "cpu")
        single = json.dumps(instance(rows(1, seed=5), 0)).encode()
        batch_rows = rows(BATCH, seed=6)
        batch = json.dumps({"instances": [instance(batch_rows, i) for i in range(BATCH)]}).encode()
        single_lua = wrk.script(workdir / "single.lua", "POST", single)
        batch_lua = wrk.script(workdir / "batch.lua", "POST", batch)

        servers = [
            stack.enter_context(app_server(kind, fast, workdir)) for kind in ("bare", "instrumentator", "mlmon-metrics")
        ]
        servers.append(
            stack.enter_context(model_server("mlmon-sqlite", fast, f"sqlite:///{workdir / 'events.db'}", workdir))
        )
        es_version = None
        if not args.no_es:
            from osmem_server import OsmemServer

            osmem = stack.enter_context(OsmemServer.start(startup_timeout=30.0))
            es_version = getattr(osmem, "version", None)
            servers.append(stack.enter_context(model_server("mlmon-es", fast, osmem.url, workdir)))
        print(f"servers up: {', '.join(s.name for s in servers)}; warming up", flush=True)
        for server in servers:
            wrk.run(server.url + "/predict", single_lua, 2, args.connections)

        print("phase 1: throughput", flush=True)
        tput = throughput_phase(servers, single_lua, args.seconds, args.connections, args.rounds)
        print("phase 2: latency (one connection)", flush=True)
        lat = latency_phase(servers, single_lua, args.seconds, args.rounds)
        print("phase 3: /healthz, /readyz, /metrics under saturating 256-row batches", flush=True)
        sqlite_server = next(s for s in servers if s.name == "mlmon-sqlite")
        probes = probes_under_batch_load(sqlite_server, workdir, batch_lua, max(8.0, args.seconds * 2))
        for server in servers:
            server.proc.send_signal(signal.SIGTERM)
        for server in servers:
            server.proc.wait(60)

        print("phase 4: inference log, sustained 256-row batches into SQLite", flush=True)
        sustained = sustained_log(fast, workdir, batch_lua, args.sustain_s)
        sustained_two = sustained_log(fast, workdir, batch_lua, args.sustain_s, workers=2)
        print("phase 5: 1 vs 2 workers on a CPU-bound model", flush=True)
        with ExitStack() as workers_stack:
            one = workers_stack.enter_context(
                model_server("workers-1", cpu, f"sqlite:///{workdir / 'w1.db'}", workdir, 1)
            )
            two = workers_stack.enter_context(
                model_server("workers-2", cpu, f"sqlite:///{workdir / 'w2.db'}", workdir, 2)
            )
            time.sleep(3)  # both workers of the second server up
            for server in (one, two):
                wrk.run(server.url + "/predict", single_lua, 2, args.connections)
            workers = throughput_phase([one, two], single_lua, args.seconds, args.connections, args.rounds)

        costs = {"fast_model_predict_us": model_cost_us(fast), "cpu_model_predict_us": model_cost_us(cpu, 200)}
        payload = build_payload(args, servers, tput, lat, probes, sustained, workers, costs, es_version, load_start)
        payload["inference_log_two_workers"] = sustained_two
        record("serving", payload)


def build_payload(
    args: argparse.Namespace,
    servers: Sequence[Server],
    tput: dict[str, dict[str, list[float]]],
    lat: dict[str, list[wrk.WrkResult]],
    probes: dict[str, Any],
    sustained: dict[str, Any],
    workers: dict[str, dict[str, list[float]]],
    costs: dict[str, float],
    es_version: str | None,
    load_start: tuple[float, float, float],
) -> dict[str, Any]:
    bare_tput = statistics.median(tput["bare"]["req_per_s"])
    bare_cpu = statistics.median(tput["bare"]["cpu_us_per_req"])
    bare_p99 = wrk.percentile_ms(wrk.merged(lat["bare"]), 99)
    rows_out: list[dict[str, Any]] = []
    for server in servers:
        name = server.name
        histogram = wrk.merged(lat[name])
        t = statistics.median(tput[name]["req_per_s"])
        cpu = statistics.median(tput[name]["cpu_us_per_req"])
        p99 = wrk.percentile_ms(histogram, 99)
        rows_out.append(
            {
                "server": name,
                "req_per_s": round(t, 1),
                "req_per_s_rounds": [round(x) for x in tput[name]["req_per_s"]],
                "throughput_ratio": round(t / bare_tput, 3),
                "cpu_us_per_req": round(cpu, 1),
                "added_cpu_us_per_req": round(cpu - bare_cpu, 1),
                "p50_ms": round(wrk.percentile_ms(histogram, 50), 3),
                "p99_ms": round(p99, 3),
                "added_p99_ms": round(p99 - bare_p99, 3),
                "latency_samples": sum(histogram.values()),
            }
        )
    by_name = {r["server"]: r for r in rows_out}
    one = statistics.median(workers["workers-1"]["req_per_s"])
    two = statistics.median(workers["workers-2"]["req_per_s"])
    with_log = [r for r in rows_out if r["server"] in ("mlmon-sqlite", "mlmon-es")]
    instrumentator = by_name["instrumentator"]
    workers_out = {
        "one_worker_req_per_s": round(one, 1),
        "two_workers_req_per_s": round(two, 1),
        "rounds": {k: [round(x) for x in v["req_per_s"]] for k, v in workers.items()},
        "cpu_us_per_req": {k: round(statistics.median(v["cpu_us_per_req"]), 1) for k, v in workers.items()},
        "speedup": round(two / one, 3),
    }
    return {
        "description": "bare FastAPI vs the instrumentator vs mlmon (metrics; metrics + inference log), fast model, "
        "loopback, wrk; 1 vs 2 workers on a CPU-bound model",
        "reference": "bare: a plain def endpoint with a pydantic request model scoring the same model (same run, "
        "interleaved rounds); one worker for the workers speedup",
        "targets": dict(TARGETS),
        "rows": rows_out,
        "probes_under_batch_load": probes,
        "inference_log": sustained,
        "workers": workers_out,
        "model_cost": costs,
        "met": {
            "throughput_ratio_with_log": all(
                r["throughput_ratio"] >= TARGETS["throughput_ratio_with_log"] for r in with_log
            ),
            "added_cpu_below_instrumentator": all(
                r["added_cpu_us_per_req"] < instrumentator["added_cpu_us_per_req"] for r in with_log
            ),
            "added_p99_ms": all(r["added_p99_ms"] <= TARGETS["added_p99_ms"] for r in with_log),
            "two_workers_speedup": workers_out["speedup"] >= TARGETS["two_workers_speedup"],
            "inference_log_events_per_s": sustained["events_per_s"] >= TARGETS["inference_log_events_per_s"]
            and sustained["all_acknowledged_stored"]
            and sustained["dropped"] == 0,
            "healthz_p99_ms_under_batch_load": probes["healthz_p99_ms"] < TARGETS["healthz_p99_ms_under_batch_load"],
        },
        "setup": {
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "connections": args.connections,
            "batch_size": BATCH,
            "sustain_s": args.sustain_s,
            "es_api_server": f"osmem-server {es_version}" if es_version else None,
            "versions": versions(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "notes": NOTES,
    }


NOTES = [
    "One 2-core machine shared with other work: the servers, wrk and the stores compete for CPU; rounds are "
    "interleaved so background load hits every server alike, and CPU per request is the steadier figure.",
    "req_per_s: wrk closed loop with `connections` keep-alive connections, single-row requests, median of rounds; "
    "throughput_ratio = this / bare.",
    "cpu_us_per_req: user+system CPU of the server and its processes (all threads: event loop, request threads, "
    "the inference log's fsync ticker and shipper thread, and its shipping process) per request answered, median "
    "of rounds; the store's own process (osmem-server) is not included; added = this - bare.",
    "p50/p99: one connection (no queueing), every sample of every round (wrk's histogram, microsecond resolution); "
    "added_p99 = this - bare.",
    "probes_under_batch_load: /healthz, /readyz and /metrics, one connection each, while 4 connections send "
    "256-row batches to mlmon-sqlite (saturating its CPU).",
    "inference_log: a fresh mlmon-sqlite server, 4 connections of 256-row batches for sustain_s; events_per_s = "
    "events counted in the SQLite table / time from the first request until the last acknowledged event is "
    "stored; acknowledged = 200 answers x 256 (the server's own counter); fsync policy of the local log as named.",
    "inference_log_two_workers: the same with --workers 2 (two worker processes, each with its own log and "
    "shipping process, into the same SQLite file).",
    "workers: the reference server with the SQLite log on the CPU-bound model; --workers 1 vs --workers 2 (same "
    "socket, kernel-balanced), interleaved rounds.",
]


if __name__ == "__main__":
    main()
