"""What the statistics service and the drift detector share: job health metrics, a metrics listener and the
run loop.

A run that fails is logged and counted (``mlmon_job_runs_total{outcome="failure"}``) and the loop goes on;
``mlmon_job_last_success_timestamp_seconds`` then ages, which is what the stale-monitor alert watches.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from mlmon.notify.tracker import IncidentTracker
    from mlmon.promql import PrometheusClient
    from mlmon.spec import ModelSpec
    from mlmon.store.base import InferenceStore

log = logging.getLogger(__name__)
RunT = TypeVar("RunT")


@dataclass
class JobHealth:
    """Health of one job for one model, exported by :class:`JobHealthCollector`."""

    job: str
    model: str
    interval_s: float
    last_success: float | None = None
    last_duration_s: float | None = None
    runs: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    backend_errors: dict[tuple[str, str], int] = field(default_factory=dict)  # (model version, backend) -> n
    model_version: str = "unknown"  # the serving version the last run worked on (a label of the errors)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, ok: bool, duration_s: float, now: float | None = None) -> None:
        with self._lock:
            self.runs["success" if ok else "failure"] += 1
            self.last_duration_s = duration_s
            if ok:
                self.last_success = now if now is not None else time.time()

    def backend_error(self, backend: str) -> None:
        with self._lock:
            key = (self.model_version, backend)
            self.backend_errors[key] = self.backend_errors.get(key, 0) + 1

    def errors_of(self, backend: str) -> int:
        """Failed calls to ``backend`` over every model version."""
        with self._lock:
            return sum(n for (_, name), n in self.backend_errors.items() if name == backend)


class JobHealthCollector:
    def __init__(self, health: JobHealth) -> None:
        self.health = health

    def collect(self) -> Iterable[Metric]:
        h = self.health
        labels = ["job", "model"]
        values = [h.job, h.model]
        with h._lock:
            interval = GaugeMetricFamily("mlmon_job_interval_seconds", "Configured seconds between runs", labels=labels)
            interval.add_metric(values, h.interval_s)
            yield interval
            if h.last_success is not None:
                last = GaugeMetricFamily(
                    "mlmon_job_last_success_timestamp_seconds", "Unix time of the last successful run", labels=labels
                )
                last.add_metric(values, h.last_success)
                yield last
            if h.last_duration_s is not None:
                duration = GaugeMetricFamily("mlmon_job_duration_seconds", "Duration of the last run", labels=labels)
                duration.add_metric(values, h.last_duration_s)
                yield duration
            runs = CounterMetricFamily("mlmon_job_runs", "Runs by outcome", labels=[*labels, "outcome"])
            for outcome, count in sorted(h.runs.items()):
                runs.add_metric([*values, outcome], count)
            yield runs
            errors = CounterMetricFamily(
                "mlmon_backend_errors",
                "Failed calls to a backend (store, Prometheus, SMTP, Feast)",
                labels=["model", "model_version", "backend"],
            )
            for (version, backend), count in sorted(h.backend_errors.items()):
                errors.add_metric([h.model, version, backend], count)
            yield errors


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Expose ``registry`` on ``http://host:port/metrics`` from a daemon thread."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def run_loop(
    run_once: Callable[[], object],
    health: JobHealth,
    *,
    stop: threading.Event,
    max_runs: int | None = None,
) -> None:
    """Call ``run_once`` every ``health.interval_s`` until ``stop`` is set (or ``max_runs`` is reached)."""
    runs = 0
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        started = time.monotonic()
        try:
            run_once()
            ok = True
        except Exception:  # one bad run must not end the service; it is logged and counted
            log.exception("%s run for %s failed", health.job, health.model)
            ok = False
        health.record(ok, time.monotonic() - started)
        runs += 1
        stop.wait(max(0.0, health.interval_s - (time.monotonic() - started)))


class RunnableJob(Protocol):
    health: JobHealth

    def run_once(self) -> Any: ...

    def close(self) -> None: ...


@dataclass
class JobParts:
    """What every monitoring job is wired with (built by :func:`job_parts`)."""

    spec: ModelSpec
    store: InferenceStore
    health: JobHealth
    prometheus: PrometheusClient | None
    incidents: IncidentTracker


def job_parts(
    job: str,
    settings: Any,
    registry: CollectorRegistry,
    collector: object,
    *,
    store: InferenceStore | None = None,
) -> JobParts:
    """Spec, store, health, Prometheus client and incident tracker (with the email notifier) for ``job`` from
    settings; registers the job's collector and its health collector on ``registry``."""
    from mlmon.notify.tracker import build_tracker
    from mlmon.promql import PrometheusClient
    from mlmon.spec import load_spec
    from mlmon.store.factory import open_store

    spec = load_spec(settings.model_spec)
    store = store or open_store(settings, spec)
    health = JobHealth(job=job, model=spec.model, interval_s=settings.interval_s)
    registry.register(collector)  # type: ignore[arg-type]
    registry.register(JobHealthCollector(health))
    return JobParts(
        spec=spec,
        store=store,
        health=health,
        prometheus=PrometheusClient(settings.prometheus_url) if settings.prometheus_url else None,
        incidents=build_tracker(store, spec.model, settings, registry),
    )


def run_service(
    job: RunnableJob,
    registry: CollectorRegistry,
    host: str,
    port: int,
    *,
    once: bool,
    summary: Callable[[Any], str],
) -> int:
    """`--once`: one run and its summary. Otherwise serve ``/metrics`` and run every interval until SIGTERM."""
    try:
        if once:
            print(summary(job.run_once()))
            return 0
        server = serve_metrics(registry, host, port)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            run_loop(job.run_once, job.health, stop=stop)
        finally:
            server.shutdown()
        return 0
    finally:
        job.close()


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a monitoring job's command (`mlmon stats|drift`, `python -m stats_service|drift_detector`)."""
    parser.add_argument("--once", action="store_true", help="run once, print a summary and exit")


def job_command(settings_cls: type[Any], run: Callable[..., int]) -> Callable[[argparse.Namespace], int]:
    """The handler of a job's command: load settings (a mistake is a ConfigError), set up logging, run."""
    from mlmon.logs import configure_logging
    from mlmon.settings import load_settings

    def handler(args: argparse.Namespace) -> int:
        settings = load_settings(settings_cls)
        configure_logging(settings.log_level)
        return run(settings, once=args.once)

    return handler


def service_main(
    prog: str,
    description: str,
    handler: Callable[[argparse.Namespace], int],
    add_arguments: Callable[[argparse.ArgumentParser], None],
    argv: list[str] | None = None,
) -> int:
    """``python -m <service>``: the same options and handler as its `mlmon` subcommand."""
    from mlmon.errors import MlmonError

    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return handler(args)
    except MlmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


class LatestRun(Generic[RunT]):
    """The last run's result for a collector: replaced whole, so a scrape reads one consistent run."""

    def __init__(self) -> None:
        self._run: RunT | None = None
        self._lock = threading.Lock()

    def update(self, run: RunT) -> None:
        with self._lock:
            self._run = run

    def latest(self) -> RunT | None:
        with self._lock:
            return self._run
