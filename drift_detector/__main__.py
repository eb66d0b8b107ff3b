"""`python -m drift_detector` / `mlmon drift [--once]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from prometheus_client import CollectorRegistry

from mlmon.errors import MlmonError
from mlmon.jobs import run_loop, serve_metrics
from mlmon.logs import configure_logging
from mlmon.settings import DriftSettings, load_settings


def run(settings: DriftSettings, *, once: bool = False) -> int:
    from drift_detector.job import build_drift_job
    from drift_detector.run import summary_text

    registry = CollectorRegistry()
    job = build_drift_job(settings, registry)
    if once:
        result = job.run_once()
        print(summary_text(result))
        return 0
    server = serve_metrics(registry, settings.host, settings.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run_loop(job.run_once, job.health, stop=stop)
    finally:
        server.shutdown()
        job.store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drift_detector", description="mlmon drift detector")
    parser.add_argument("--once", action="store_true", help="run once, print a summary and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(DriftSettings)
        configure_logging(settings.log_level)
        return run(settings, once=args.once)
    except MlmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
