"""`python -m drift_detector` / `mlmon drift [--once]`."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from mlmon.jobs import run_service, service_main
from mlmon.settings import DriftSettings


def run(settings: DriftSettings, *, once: bool = False) -> int:
    from drift_detector.job import build_drift_job
    from drift_detector.run import summary_text

    registry = CollectorRegistry()
    job = build_drift_job(settings, registry)
    return run_service(job, registry, settings.host, settings.port, once=once, summary=summary_text)


def main(argv: list[str] | None = None) -> int:
    return service_main("python -m drift_detector", "mlmon drift detector", DriftSettings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
