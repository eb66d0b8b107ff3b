"""Serving overhead benchmark: the same trained model behind a bare FastAPI endpoint vs the instrumented
model server with the inference log on (SQLite, and the Elasticsearch-API test server), side by side.

All three servers are real uvicorn processes on loopback, started once and measured in interleaved rounds
(bare, sqlite, es, bare, …) so that the shared machine's background load hits them alike. Load is bounded:
a fixed number of requests from a few concurrent httpx clients.

1. throughput: closed loop, ``--concurrency`` clients, ``--requests`` per server per round → req/s;
   ratio = instrumented / bare (target >= 0.90).
2. latency at a steady load below saturation: requests paced at ``--load`` × the bare server's throughput
   (default 0.5) → p50/p99; added p99 = instrumented − bare (target <= 2 ms).
3. inference log, sustained: batches of 256 instances into the SQLite server for ``--sustain-s`` seconds;
   events stored per second from ``mlmon_inference_events_total{outcome="stored"}`` (target >= 5,000/s),
   plus the writer's drain rate in-process (the log path alone, no model).

    python -m bench serving              # ~3 minutes on an idle 2-core machine
    python -m bench.serving --quick      # smaller counts
    python -m bench.serving --model var/models/loan_default
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import Request  # module level: FastAPI resolves the handler's annotation by name

from bench.common import record
from mlmon.demo.data import generate_features
from mlmon.spec import ModelSpec

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.90
TARGET_ADDED_P99_MS = 2.0
TARGET_EVENTS_PER_S = 5000.0
BATCH = 256


# --- the bare server ------------------------------------------------------------------------------------


def bare_app(model_dir: Path) -> Any:
    """The reference: the same model behind the smallest reasonable FastAPI endpoint (no validation,
    no metrics, no inference log)."""
    import pandas as pd
    from fastapi import FastAPI

    from mlmon.registry.artifact import load_model

    model = load_model(model_dir)
    names = model.spec.feature_names
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        body = await request.json()
        rows = body.get("instances", [body])
        scores = model.predict_scores(pd.DataFrame(rows, columns=names))
        out = [{"prediction": model.label_for(float(s)), "score": float(s)} for s in scores]
        return {"predictions": out} if "instances" in body else out[0]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    return app


def _serve_bare(model_dir: Path, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(model_dir), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- processes ------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: Server, path: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{server.name} not ready after {timeout}s: {server.log.read_text()[-2000:]}")


@contextmanager
def _process(
    name: str, args: Sequence[str], env: dict[str, str], workdir: Path, ready: str, port: int
) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=REPO,
        )
    server = Server(name, f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_ready(server, ready)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _model_server(name: str, model_dir: Path, spec_path: Path, store: str, workdir: Path) -> Any:
    port = _free_port()
    env = {
        "MLMON_STORE": store,
        "MLMON_MODEL_PATH": str(model_dir),
        "MLMON_MODEL_SPEC": str(spec_path),
        "MLMON_VAR_DIR": str(workdir / name),
        "MLMON_PORT": str(port),
        "MLMON_HOST": "127.0.0.1",
        "MLMON_PII_HASH_KEY": "bench-pii-key-0123456789",
        "MLMON_LOG_LEVEL": "WARNING",
    }
    return _process(name, [sys.executable, "-m", "model_server"], env, workdir, "/readyz", port)


def _bare_server(model_dir: Path, workdir: Path) -> Any:
    port = _free_port()
    args = [sys.executable, "-m", "bench.serving", "--serve-bare", str(model_dir), "--port", str(port)]
    # Same threading as `mlmon serve` (one OpenMP thread per request), so only the instrumentation differs.
    return _process("bare", args, {"OMP_NUM_THREADS": "1"}, workdir, "/healthz", port)


# --- load -----------------------------------------------------------------------------------------------


def request_bodies(spec: ModelSpec, n: int, seed: int = 1) -> list[bytes]:
    """Realistic demo applications as JSON bodies (missing values as null)."""
    import json

    frame = generate_features(n, np.random.default_rng(seed))
    names = [f.name for f in spec.features]
    bodies = []
    for record_ in frame[names].to_dict(orient="records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record_.items()}
        for f in spec.features:
            value = clean[f.name]
            if value is not None and f.type == "boolean":
                clean[f.name] = bool(value)
            elif value is not None and f.type == "numeric":
                clean[f.name] = float(value)
        bodies.append(json.dumps(clean).encode())
    return bodies


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def run_load(url: str, bodies: Sequence[bytes], n: int, concurrency: int, rate: float | None = None) -> LoadResult:
    """``n`` POSTs from ``concurrency`` keep-alive clients; closed loop, or paced at ``rate`` req/s."""
    lock = threading.Lock()
    next_index = 0
    result = LoadResult(0.0)
    start = time.perf_counter() + 0.05

    def worker() -> None:
        nonlocal next_index
        headers = {"content-type": "application/json"}
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    index = next_index
                    next_index += 1
                if index >= n:
                    return
                if rate:
                    delay = start + index / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                began = time.perf_counter()
                response = client.post(url, content=bodies[index % len(bodies)], headers=headers)
                elapsed = time.perf_counter() - began
                with lock:
                    if response.status_code == 200:
                        result.latencies.append(elapsed)
                    else:
                        result.errors += 1

    t0 = time.perf_counter()
    _run_threads(worker, concurrency, 900)
    result.seconds = time.perf_counter() - t0
    return result


def _run_threads(target: Any, count: int, timeout: float) -> None:
    """Daemon threads joined in short steps, so Ctrl-C reaches the main thread and the servers get stopped."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        while t.is_alive() and time.monotonic() < deadline:
            t.join(0.5)


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def _metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- phases ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads: the writer thread counts too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput_phase(
    servers: Sequence[Server], bodies: Sequence[bytes], n: int, concurrency: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """req/s per round, and the server process's CPU milliseconds per request over all rounds."""
    out: dict[str, list[float]] = {s.name: [] for s in servers}
    cpu: dict[str, float] = {s.name: 0.0 for s in servers}
    for _ in range(rounds):
        for server in servers:
            before = cpu_seconds(server.proc.pid)
            result = run_load(server.url + "/predict", bodies, n, concurrency)
            cpu[server.name] += cpu_seconds(server.proc.pid) - before
            if result.errors:
                raise RuntimeError(f"{server.name}: {result.errors} failed requests")
            out[server.name].append(result.throughput)
    return out, {name: 1000 * total / (n * rounds) for name, total in cpu.items()}


def latency_phase(
    servers: Sequence[Server], bodies: Sequence[bytes], n: int, rate: float, chunk: int = 25
) -> dict[str, list[float]]:
    """``n`` paced requests per server in short interleaved chunks, so that bursts of background load hit
    every server alike."""
    out: dict[str, list[float]] = {s.name: [] for s in servers}
    for _ in range(max(1, n // chunk)):
        for server in servers:
            # enough clients that pacing, not client-side queueing, sets the load
            result = run_load(server.url + "/predict", bodies, chunk, concurrency=4, rate=rate)
            out[server.name].extend(result.latencies)
    return out


def _wait_drained(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _metric(url, "mlmon_inference_queue_depth") == 0:
            time.sleep(0.2)  # a batch popped from the queue may still be in its store write
            return
        time.sleep(0.05)


def sustained_phase(server: Server, bodies: Sequence[bytes], seconds: float, concurrency: int) -> dict[str, Any]:
    import json

    batches = []
    for i in range(0, 8 * BATCH, BATCH):
        instances = [json.loads(b) for b in (bodies[(i + j) % len(bodies)] for j in range(BATCH))]
        batches.append(json.dumps({"instances": instances}).encode())
    labels = {"outcome": "stored"}
    _wait_drained(server.url)  # earlier (warm-up) events must not count in this phase
    stored_before = _metric(server.url, "mlmon_inference_events_total", **labels)
    t0 = time.perf_counter()
    stop = t0 + seconds
    sent = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal sent
        with httpx.Client(timeout=60) as client:
            k = 0
            while time.perf_counter() < stop:
                response = client.post(
                    server.url + "/predict",
                    content=batches[k % len(batches)],
                    headers={"content-type": "application/json"},
                )
                k += 1
                if response.status_code == 200:
                    with lock:
                        sent += BATCH

    _run_threads(worker, concurrency, seconds + 120)
    served_s = time.perf_counter() - t0
    # Drain: the rate counts only what the store holds; waiting for the queue to empty is part of it.
    _wait_drained(server.url)
    elapsed = time.perf_counter() - t0
    stored = _metric(server.url, "mlmon_inference_events_total", **labels) - stored_before
    return {
        "events_served": sent,
        "events_stored": stored,
        "served_s": served_s,
        "until_stored_s": elapsed,
        "events_per_s": stored / elapsed,
        "spooled": _metric(server.url, "mlmon_inference_events_total", outcome="spooled"),
        "dropped": _metric(server.url, "mlmon_inference_events_total", outcome="dropped"),
    }


def writer_drain_rate(spec: ModelSpec, n: int, workdir: Path) -> float:
    """The log path alone, in one process: InferenceLog (append + ship) → real SQLiteStore, no HTTP, no model."""
    import uuid
    from datetime import UTC, datetime

    from prometheus_client import CollectorRegistry

    from mlmon.inference_log import InferenceLog, LogConfig
    from mlmon.instrument.metrics import inference_log_metrics
    from mlmon.store.base import InferenceEvent
    from mlmon.store.sqlite import SQLiteStore

    store = SQLiteStore(workdir / "drain.db", spec)
    store.ensure_schema()
    frame = generate_features(2000, np.random.default_rng(5))
    rows = frame[spec.feature_names].astype(object).where(frame[spec.feature_names].notna(), None)
    features = [
        {k: (("true" if v else "false") if isinstance(v, (bool, np.bool_)) else v) for k, v in r.items()}
        for r in rows.to_dict(orient="records")
    ]
    now = datetime.now(UTC)
    events = [
        InferenceEvent(
            uuid.uuid4().hex, now, spec.model, "bench", features[i % len(features)], [], "no_default", 0.2, "ok", 3.0
        )
        for i in range(n)
    ]
    log = InferenceLog(
        workdir / "drain-log",
        store,
        config=LogConfig(max_bytes=10**10, bulk_size=500, flush_interval_s=0.05),
        metrics=inference_log_metrics(CollectorRegistry()),
        model=spec.model,
        model_version="bench",
    )
    log.start()
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        log.append(events[i : i + BATCH])
    log.flush(300)
    elapsed = time.perf_counter() - t0
    log.close()
    store.close()
    return n / elapsed


def cheap_model_dir(model_dir: Path, workdir: Path) -> Path:
    """A copy of the trained artifact with a logistic regression in place of the boosted trees, so that
    the inference log (not the model's CPU) is what the sustained phase of the server process measures."""
    import shutil

    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlmon.demo.data import default_probability
    from mlmon.registry.artifact import CURRENT_FILE, MODEL_FILE, model_frame, resolve_version_dir
    from mlmon.spec import load_spec

    source = resolve_version_dir(model_dir)
    target_root = workdir / "cheap-model"
    target = target_root / source.name
    shutil.copytree(source, target)
    (target_root / CURRENT_FILE).write_text(source.name + "\n")
    spec = load_spec(target / "spec.yaml")
    rng = np.random.default_rng(3)
    frame = generate_features(3000, rng)
    labels = np.where(rng.random(len(frame)) < default_probability(frame), "default", "no_default")
    numeric = [f.name for f in spec.features if f.type == "numeric"]
    other = [f.name for f in spec.features if f.type != "numeric" and not f.pii]
    pipeline = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", SimpleImputer(strategy="median"), numeric),
                        (
                            "cat",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                                    ("onehot", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            other,
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(model_frame(spec, frame), labels)
    joblib.dump(pipeline, target / MODEL_FILE)
    return target_root


def in_process_overhead(
    model_dir: Path, spec_path: Path, bodies: Sequence[bytes], n: int, workdir: Path, chunk: int = 20
) -> dict[str, float]:
    """CPU per request of both apps in this process (ASGI calls via TestClient, interleaved chunks).
    CPU time is far less sensitive to the machine's background load than wall-clock throughput."""
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from mlmon.settings import ModelServerSettings
    from model_server import create_app

    settings = ModelServerSettings(
        store=f"sqlite:///{workdir / 'inproc.db'}",
        var_dir=workdir / "inproc",
        model_path=model_dir,
        model_spec=spec_path,
        pii_hash_key="bench-pii-key-0123456789",
    )
    apps = {"bare": bare_app(model_dir), "instrumented+sqlite": create_app(settings, registry=CollectorRegistry())}
    headers = {"content-type": "application/json"}
    cpu = dict.fromkeys(apps, 0.0)
    with TestClient(apps["bare"]) as bare, TestClient(apps["instrumented+sqlite"]) as instr:
        clients = {"bare": bare, "instrumented+sqlite": instr}
        for client in clients.values():
            for body in bodies[:20]:
                client.post("/predict", content=body, headers=headers)
        for k in range(max(1, n // chunk)):
            for name, client in clients.items():
                before = time.process_time()
                for body in bodies[k * chunk % len(bodies) :][:chunk]:
                    assert client.post("/predict", content=body, headers=headers).status_code == 200
                if name != "bare":
                    apps[name].state.mlmon.log.flush(30)  # the log's CPU counts
                cpu[name] += time.process_time() - before
    count = max(1, n // chunk) * chunk
    bare_ms, instr_ms = 1000 * cpu["bare"] / count, 1000 * cpu["instrumented+sqlite"] / count
    return {
        "bare_cpu_ms_per_req": round(bare_ms, 3),
        "instrumented_cpu_ms_per_req": round(instr_ms, 3),
        "added_cpu_ms_per_req": round(instr_ms - bare_ms, 3),
        "cpu_ratio": round(bare_ms / instr_ms, 3),
        "requests_each": count,
    }


# --- model ----------------------------------------------------------------------------------------------


def resolve_model(path: str | None, workdir: Path) -> Path:
    from mlmon.registry.artifact import resolve_version_dir
    from mlmon.spec import load_spec

    candidate = Path(path) if path else REPO / "var" / "models" / "loan_default"
    try:
        resolve_version_dir(candidate)
        return candidate
    except Exception:
        if path:
            raise
    print("no trained model in var/models/loan_default: training one (Feast, temp dir)…", flush=True)
    from mlmon.training.train import train
    from tests.fixtures.feast import copy_feature_repo

    spec = load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")
    repo = copy_feature_repo(workdir / "feature_repo")
    result = train(spec, repo, workdir / "models" / spec.model, rows=4000, seed=7)
    return Path(result.path).parent


# --- main -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model folder (default: var/models/loan_default, else train one)")
    parser.add_argument("--requests", type=int, default=200, help="requests per server per throughput round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-requests", type=int, default=200, help="paced requests per server")
    parser.add_argument("--load", type=float, default=0.5, help="steady load as a share of bare throughput")
    parser.add_argument("--sustain-s", type=float, default=10.0)
    parser.add_argument("--no-es", action="store_true", help="skip the Elasticsearch-API server")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve-bare", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[2:] if argv is None and sys.argv[1:2] == ["serving"] else argv)
    if args.serve_bare:
        _serve_bare(Path(args.serve_bare), args.port)
        return
    if args.quick:
        args.requests, args.rounds, args.latency_requests, args.sustain_s = 100, 2, 100, 6.0

    from mlmon.registry.artifact import load_model

    with tempfile.TemporaryDirectory(prefix="mlmon-bench-serving-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        model_dir = resolve_model(args.model, workdir)
        model = load_model(model_dir)
        spec_path = model.path / "spec.yaml"
        bodies = request_bodies(model.spec, 500)
        servers = [
            stack.enter_context(_bare_server(model_dir, workdir)),
            stack.enter_context(
                _model_server("sqlite", model_dir, spec_path, f"sqlite:///{workdir / 'events.db'}", workdir)
            ),
        ]
        es_version = None
        if not args.no_es:
            from osmem_server import OsmemServer

            osmem = stack.enter_context(OsmemServer.start(startup_timeout=30.0))
            es_version = getattr(osmem, "version", None)
            servers.append(
                stack.enter_context(_model_server("elasticsearch", model_dir, spec_path, osmem.url, workdir))
            )
        print(f"servers up: {', '.join(s.name for s in servers)}; warming up", flush=True)
        for server in servers:
            run_load(server.url + "/predict", bodies, 60, args.concurrency)

        print("phase 1: throughput (closed loop)", flush=True)
        tput, cpu_ms = throughput_phase(servers, bodies, args.requests, args.concurrency, args.rounds)
        bare_tput = statistics.median(tput["bare"])
        rate = args.load * bare_tput
        print(f"phase 2: latency at {rate:.0f} req/s", flush=True)
        lat = latency_phase(servers, bodies, args.latency_requests, rate)
        print("phase 3: inference log, sustained batches into SQLite", flush=True)
        sqlite_server = next(s for s in servers if s.name == "sqlite")
        sustained = sustained_phase(sqlite_server, bodies, args.sustain_s, concurrency=2)
        cheap_dir = cheap_model_dir(model_dir, workdir)
        with _model_server(
            "sqlite-cheap-model", cheap_dir, spec_path, f"sqlite:///{workdir / 'cheap.db'}", workdir
        ) as cheap:
            run_load(cheap.url + "/predict", bodies, 20, 1)
            sustained_log = sustained_phase(cheap, bodies, args.sustain_s, concurrency=2)
        drain = writer_drain_rate(model.spec, 50_000 if not args.quick else 20_000, workdir)
        print("phase 4: in-process CPU per request (bare vs instrumented)", flush=True)
        in_process = in_process_overhead(model_dir, spec_path, bodies, 200 if not args.quick else 100, workdir)

        rows: list[dict[str, Any]] = []
        bare_p99 = _percentile(lat["bare"], 99) * 1000
        for server in servers:
            t = statistics.median(tput[server.name])
            p50, p99 = _percentile(lat[server.name], 50) * 1000, _percentile(lat[server.name], 99) * 1000
            rows.append(
                {
                    "server": server.name if server.name == "bare" else f"instrumented+{server.name}",
                    "req_per_s": round(t, 1),
                    "req_per_s_rounds": [round(x, 1) for x in tput[server.name]],
                    "throughput_ratio": round(t / bare_tput, 3),
                    "server_cpu_ms_per_req": round(cpu_ms[server.name], 2),
                    "cpu_ratio": round(cpu_ms["bare"] / cpu_ms[server.name], 3),
                    "p50_ms": round(p50, 2),
                    "p99_ms": round(p99, 2),
                    "added_p99_ms": round(p99 - bare_p99, 2) if server.name != "bare" else 0.0,
                    "latency_samples": len(lat[server.name]),
                }
            )
        instrumented = [r for r in rows if r["server"] != "bare"]
        payload = {
            "description": "bare FastAPI vs instrumented model server with the inference log, same model, loopback",
            "reference": "the same model behind a bare FastAPI endpoint in the same run (interleaved rounds)",
            "targets": {
                "throughput_ratio": f">= {TARGET_RATIO}",
                "added_p99_ms": f"<= {TARGET_ADDED_P99_MS}",
                "inference_log_events_per_s": f">= {TARGET_EVENTS_PER_S:.0f}",
            },
            "rows": rows,
            "steady_load_req_per_s": round(rate, 1),
            "in_process_cpu": in_process,
            "inference_log": {
                "server_process_events_per_s": round(sustained_log["events_per_s"], 1),
                "ratio_to_target": round(sustained_log["events_per_s"] / TARGET_EVENTS_PER_S, 3),
                "server_process_cheap_model": sustained_log,
                "server_process_trained_model": sustained,
                "writer_drain_events_per_s_in_process": round(drain, 1),
            },
            "met": {
                "throughput_ratio": all(r["throughput_ratio"] >= TARGET_RATIO for r in instrumented),
                "throughput_ratio_cpu": in_process["cpu_ratio"] >= TARGET_RATIO,
                "added_p99_ms": all(r["added_p99_ms"] <= TARGET_ADDED_P99_MS for r in instrumented),
                "inference_log_events_per_s": sustained_log["events_per_s"] >= TARGET_EVENTS_PER_S,
            },
            "setup": {
                "model": model.version,
                "model_path": str(model_dir),
                "concurrency": args.concurrency,
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "latency_requests_per_server": args.latency_requests,
                "batch_size_sustained": BATCH,
                "es_api_server": f"osmem-server {es_version}" if es_version else None,
                "load_avg_at_end": os.getloadavg(),
            },
            "notes": [
                "One 2-core machine shared with other work: server, load generator and stores compete for CPU; "
                "rounds are interleaved so background load hits every server alike.",
                "Throughput is closed-loop (saturation) with the model's CPU cost dominating each request.",
                "server_cpu_ms_per_req: user+system CPU of the server process (all threads, incl. the "
                "inference-log writer) per request; cpu_ratio = bare / this, the throughput ratio a CPU-bound "
                "server would reach without background noise. The ES-API server's own CPU is not included.",
                "in_process_cpu: both apps called in this process, interleaved; CPU per request including the "
                "inference-log writer thread (flushed each chunk) — the least noisy overhead figure here.",
                "inference_log.server_process_events_per_s: a model server process (SQLite store) fed batches "
                "of 256 with a logistic-regression copy of the artifact, so the log path is what is measured; "
                "with the trained boosted trees the model's CPU bounds the rate (server_process_trained_model).",
            ],
        }
        record("serving", payload)


if __name__ == "__main__":
    main()
