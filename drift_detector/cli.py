"""`mlmon drift [--once]` and `python -m drift_detector`: the drift detector's one command."""

from __future__ import annotations

import argparse
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.jobs import add_job_arguments, job_command, run_service
from mlmon.settings import DriftSettings

DESCRIPTION = "the drift detector: outputs first, then every input, against the registered baseline"


def run(settings: DriftSettings, *, once: bool = False, start: str | None = None, end: str | None = None) -> int:
    if start is not None or end is not None:
        from drift_detector.backtest import run_range

        return run_range(settings, start, end)
    from drift_detector.job import build_drift_job
    from drift_detector.run import summary_text

    registry = CollectorRegistry()
    job = build_drift_job(settings, registry)
    return run_service(job, registry, settings.host, settings.port, once=once, summary=summary_text)


handler = job_command(DriftSettings, run)


def add(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("drift", help=DESCRIPTION, description=DESCRIPTION)
    add_job_arguments(parser)
    parser.set_defaults(handler=handler)
