"""The statistics service's window job (entry point ``mlmon.window_jobs: stats``): the live job's computation
over a past window, nothing published.

The job is the live ``StatsJob`` with one window setting (the window's length) run at the window's end, on a
store that only reads (``mlmon.history.dry_store``): the same statistics, evaluation with delayed labels
(``MLMON_LABEL_DELAY_S`` as live), SLOs and findings; Prometheus is not asked (its data is not history) and no
email is sent. Also the one-off ``mlmon stats --start --end``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from mlmon.history.outcome import Measure, WindowJobSetup, WindowOutcome
from mlmon.history.windows import duration_name
from mlmon.jobs import JobHealth
from mlmon.settings import StatsSettings, load_settings
from mlmon.spec import load_spec
from mlmon.store.base import TimeWindow
from stats_service.collector import StatsCollector
from stats_service.job import StatsJob
from stats_service.run import StatsRun, summary_line

# A past window is computed from the store alone: no Prometheus, no email, no retention.
DRY = {"prometheus_url": None, "smtp_host": None}


def stats_settings(setup: WindowJobSetup, window_s: float) -> StatsSettings:
    # One run per window: the service's interval is the window (what the incident policy's parts live by).
    overrides: dict[str, Any] = {**setup.overrides, **DRY, "windows": [duration_name(window_s)], "interval_s": window_s}
    overrides["var_dir"] = setup.workdir
    settings = load_settings(StatsSettings, **overrides)
    return setup.pinned(settings)


class StatsWindows:
    service = "stats"

    def __init__(self, setup: WindowJobSetup) -> None:
        self.setup = setup
        self._jobs: dict[float, StatsJob] = {}

    def job(self, window_s: float) -> StatsJob:
        job = self._jobs.get(window_s)
        if job is None:
            settings = stats_settings(self.setup, window_s)
            spec = load_spec(settings.model_spec)
            health = JobHealth(job="stats", model=spec.model, interval_s=settings.interval_s)
            job = StatsJob(
                settings=settings, spec=spec, store=self.setup.store, health=health, collector=StatsCollector()
            )
            self._jobs[window_s] = job
        return job

    def run(self, window: TimeWindow) -> StatsRun:
        return self.job(window.seconds).run_once(now=window.end.astimezone(UTC))

    def run_window(self, window: TimeWindow) -> WindowOutcome:
        job = self.job(window.seconds)
        return outcome(self.run(window), job, window)

    def close(self) -> None:
        self._jobs.clear()


def outcome(run: StatsRun, job: StatsJob, window: TimeWindow) -> WindowOutcome:
    report = run.windows[0] if run.windows else None
    rows = report.rows if report is not None else 0
    symptoms = [Measure(r.slo.metric, r.value, r.slo.threshold, r.slo.op, r.breached, r.source) for r in run.slos]
    declared = {m.name for m in symptoms}
    for share in ("empty_share", "fallback_share"):
        if report is not None and share in report.responses and share not in declared:
            symptoms.append(Measure(share, report.responses[share], None, "", False, "store"))
    # The live job's own part of the incident (what ``StatsJob._publish`` hands to the tracker).
    contribution = job.contribution(run) if run.windows else None
    return WindowOutcome(
        service="stats",
        window=window,
        rows=rows,
        status="ok" if rows else "no_data",
        summary=summary_line(run),
        symptoms=symptoms,
        findings=[f.title for f in run.findings],
        contribution=contribution,
    )


def window_job(setup: WindowJobSetup) -> StatsWindows:
    return StatsWindows(setup)


def run_range(settings: StatsSettings, start: str | None, end: str | None) -> int:
    """`mlmon stats --start --end`: one run over the range, its summary printed."""
    from mlmon.history.oneoff import NOTE, range_setup
    from stats_service.summary import summary_text

    with range_setup(settings, start, end) as (span, setup):
        run = StatsWindows(setup).run(span)
    print(summary_text(run))
    print(f"note: {NOTE}")
    return 0
