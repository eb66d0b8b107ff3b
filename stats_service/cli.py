"""`mlmon stats [--once]` and `python -m stats_service`: the statistics service's one command."""

from __future__ import annotations

import argparse
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.jobs import add_job_arguments, job_command, run_service
from mlmon.settings import StatsSettings

DESCRIPTION = "the statistics service: window statistics, traffic, evaluation with delayed labels, SLOs"


def run(settings: StatsSettings, *, once: bool = False, start: str | None = None, end: str | None = None) -> int:
    if start is not None or end is not None:
        from stats_service.backtest import run_range

        return run_range(settings, start, end)
    from stats_service.job import build_stats_job
    from stats_service.summary import summary_text

    registry = CollectorRegistry()
    job = build_stats_job(settings, registry)
    return run_service(job, registry, settings.host, settings.port, once=once, summary=summary_text)


handler = job_command(StatsSettings, run)


def add(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("stats", help=DESCRIPTION, description=DESCRIPTION)
    add_job_arguments(parser)
    parser.set_defaults(handler=handler)
