"""`python -m stats_service` / `mlmon stats [--once]`."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from mlmon.jobs import run_service, service_main
from mlmon.settings import StatsSettings


def run(settings: StatsSettings, *, once: bool = False) -> int:
    from stats_service.job import build_stats_job, summary_line

    registry = CollectorRegistry()
    job = build_stats_job(settings, registry)
    return run_service(job, registry, settings.host, settings.port, once=once, summary=summary_line)


def main(argv: list[str] | None = None) -> int:
    return service_main("python -m stats_service", "mlmon statistics service", StatsSettings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
