"""The drift detector's window job (entry point ``mlmon.window_jobs: drift``): the live job's computation over a
past window, nothing published.

The job is the live ``DriftJob`` with its window setting set to the window's length, run at the window's end,
on a store that only reads (``mlmon.history.dry_store``). Its streaks (``MLMON_CONSECUTIVE``) live in the
backtest's work folder, so they carry from one window to the next as they would live and never touch the live
job's. Prometheus is not asked (the counts come from the store: ``MLMON_DRIFT_COUNTS=store``) and no email is
sent. Also the one-off ``mlmon drift --start --end``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from drift_detector.baseline_cache import BaselineCache
from drift_detector.collector import DriftCollector
from drift_detector.job import DriftJob
from drift_detector.run import DriftRun, summary_line
from mlmon.history.outcome import FeatureScore, Measure, WindowJobSetup, WindowOutcome
from mlmon.history.windows import duration_name
from mlmon.jobs import JobHealth
from mlmon.settings import DriftSettings, load_settings
from mlmon.spec import load_spec
from mlmon.store.base import TimeWindow

# A past window is read from the store alone: Prometheus (its serve-time counts too) is not history; no email.
DRY = {"prometheus_url": None, "smtp_host": None, "drift_counts": "store"}


def drift_settings(setup: WindowJobSetup, window_s: float) -> DriftSettings:
    overrides: dict[str, Any] = {"reports_dir": setup.workdir / "reports", **setup.overrides}
    # One run per window: the service's interval is the window (what the incident policy's parts live by).
    overrides.update(DRY, window=duration_name(window_s), var_dir=setup.workdir, interval_s=window_s)
    settings = load_settings(DriftSettings, **overrides)
    return setup.pinned(settings)


class DriftWindows:
    service = "drift"

    def __init__(self, setup: WindowJobSetup) -> None:
        self.setup = setup
        self._jobs: dict[float, DriftJob] = {}

    def job(self, window_s: float) -> DriftJob:
        job = self._jobs.get(window_s)
        if job is None:
            settings = drift_settings(self.setup, window_s)
            spec = load_spec(settings.model_spec)
            job = DriftJob(
                settings=settings,
                store=self.setup.store,
                baselines=BaselineCache(settings.model_dir(spec.model)),
                collector=DriftCollector(),
                health=JobHealth(job="drift", model=spec.model, interval_s=settings.interval_s),
            )
            self._jobs[window_s] = job
        return job

    def run(self, window: TimeWindow) -> DriftRun:
        return self.job(window.seconds).run_once(now=window.end.astimezone(UTC))

    def run_window(self, window: TimeWindow) -> WindowOutcome:
        job = self.job(window.seconds)
        return outcome(self.run(window), job, window)

    def close(self) -> None:
        self._jobs.clear()


def outcome(run: DriftRun, job: DriftJob, window: TimeWindow) -> WindowOutcome:
    symptoms: list[Measure] = []
    causes: list[FeatureScore] = []
    for check in run.checks:
        decision = run.decision_for(check)
        effect = check.effect
        status = decision.status if decision is not None else "not_tested"
        statistic = effect.statistic if effect is not None else None
        threshold = effect.threshold if effect is not None else None
        if check.role == "output":
            name = f"{check.feature} distribution"
            symptoms.append(Measure(name, statistic, threshold, "<", status == "drift", effect.test if effect else ""))
        else:
            label = f"{check.feature} (fill rate)" if check.role == "quality" else check.feature
            causes.append(FeatureScore(label, statistic, threshold, effect.test if effect else "", status))
    # The live job's own part of the incident (what ``DriftJob._publish`` hands to the tracker); too few rows:
    # no evidence either way, the incident keeps this service's last part.
    contribution = job.contribution(run, job.baselines.current()) if run.status == "ok" else None
    return WindowOutcome(
        service="drift",
        window=window,
        rows=run.rows,
        status=run.status,
        summary=summary_line(run),
        symptoms=symptoms,
        causes=causes,
        findings=[f"{c.feature}: {c.role} drift" for c, _ in run.drifted],
        contribution=contribution,
    )


def window_job(setup: WindowJobSetup) -> DriftWindows:
    return DriftWindows(setup)


def run_range(settings: DriftSettings, start: str | None, end: str | None) -> int:
    """`mlmon drift --start --end`: one run over the range, its summary printed and its HTML report written."""
    from drift_detector.run import summary_text
    from mlmon.history.oneoff import NOTE, range_setup

    # One window: persistence over consecutive windows does not apply, the range is judged on its own.
    with range_setup(settings, start, end, reports_dir=settings.reports_path, consecutive=1) as (span, setup):
        run = DriftWindows(setup).run(span)
    print(summary_text(run))
    print(f"note: {NOTE}; the range is one window, decided on its own (MLMON_CONSECUTIVE does not apply)")
    return 0
