"""What a monitoring service computes for one historical window, in the terms a backtest report needs.

The statistics service and the drift detector contribute a *window job* through the ``mlmon.window_jobs``
entry-point group (the core imports neither service): a factory ``window_job(setup) -> WindowJob`` whose
``run_window(window)`` runs the service's own computation over that window — the same code as a live run, with
nothing published (no report stored, no incident touched, no email) — and returns a :class:`WindowOutcome`:

- ``symptoms``: what users feel, each measured against its bound (evaluation metrics against their SLOs, the
  output distribution against its drift threshold, the empty/fallback shares);
- ``causes``: per input feature, the drift statistic and threshold (the heatmap of the report);
- ``contribution``: the service's part of the model's incident, exactly as the live job would hand it to the
  incident policy (None when the run had too little data to say anything).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mlmon.errors import ConfigError
from mlmon.settings import CommonSettings
from mlmon.spec import load_spec
from mlmon.store.base import InferenceStore, TimeWindow

WINDOW_JOB_GROUP = "mlmon.window_jobs"


@dataclass(frozen=True)
class Measure:
    """A symptom in a window: ``value op bound`` must hold (``mae <= 4.5``; a drift statistic ``< threshold``)."""

    name: str
    value: float | None
    bound: float | None
    op: str
    breached: bool
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _finite(self.value),
            "bound": _finite(self.bound),
            "op": self.op,
            "breached": self.breached,
            "source": self.source,
        }


@dataclass(frozen=True)
class FeatureScore:
    """One input's drift in a window: statistic against its threshold, and the decision."""

    feature: str
    statistic: float | None
    threshold: float | None
    test: str
    status: str  # drift, pending, no_drift, not_tested

    @property
    def ratio(self) -> float | None:
        """statistic / threshold (>= 1: past the threshold); None when not measured."""
        if self.statistic is None or not self.threshold or not math.isfinite(self.statistic):
            return None
        return self.statistic / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "statistic": _finite(self.statistic),
            "threshold": _finite(self.threshold),
            "ratio": _finite(self.ratio),
            "test": self.test,
            "status": self.status,
        }


@dataclass
class WindowOutcome:
    service: str
    window: TimeWindow
    rows: int
    status: str  # "ok", or why nothing was decided (e.g. "insufficient_data")
    summary: str
    symptoms: list[Measure] = field(default_factory=list)
    causes: list[FeatureScore] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # titles, symptoms first
    contribution: Any = None  # the incident policy's input for this run (None: no evidence either way)


class WindowJob(Protocol):
    service: str

    def run_window(self, window: TimeWindow) -> WindowOutcome: ...

    def close(self) -> None: ...


SettingsT = TypeVar("SettingsT", bound=CommonSettings)


@dataclass(frozen=True)
class WindowJobSetup:
    """What a service's window job is built from: the shared store (read only), a work folder for state the
    job keeps between windows (drift streaks, HTML reports), setting overrides (``MLMON_*`` names without the
    prefix, lowercase), and the model version to compare (None: the registered CURRENT)."""

    store: InferenceStore
    workdir: Path
    overrides: Mapping[str, Any] = field(default_factory=dict)
    model_version: str | None = None

    def pinned(self, settings: SettingsT) -> SettingsT:
        """``settings`` with the model path of the version to compare, when one is set."""
        if self.model_version is None:
            return settings
        model_dir = settings.model_dir(load_spec(settings.model_spec).model)
        return settings.model_copy(update={"model_path": model_dir / self.model_version})


class WindowJobFactory(Protocol):
    def __call__(self, setup: WindowJobSetup) -> WindowJob: ...


def window_job_factories() -> dict[str, WindowJobFactory]:
    """The installed services' window jobs, by service name."""
    found: dict[str, WindowJobFactory] = {}
    for point in entry_points(group=WINDOW_JOB_GROUP):
        found[point.name] = point.load()
    if not found:
        raise ConfigError(
            "no monitoring service is installed to compute windows",
            hint="install mlmon with the monitor extra: pip install 'mlmon[monitor]'",
        )
    return dict(sorted(found.items()))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
