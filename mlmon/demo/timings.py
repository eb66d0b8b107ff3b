"""Rates and phases of one demo run, and the short service windows it uses (``MLMON_DEMO_<FIELD>``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlmon.embedded.stack import ServiceTimings


@dataclass(frozen=True)
class DemoTimings:
    """Defaults: what `mlmon demo` uses."""

    rate: float = 60.0  # predictions per second sent by the replay
    baseline_s: float = 25.0  # normal traffic before the fault
    fault_s: float = 60.0  # longest fault phase (ends early once the incident email is in)
    drift_window: str = "30s"
    job_interval_s: float = 5.0
    min_rows: int = 300
    consecutive: int = 2
    stats_window: str = "1m"
    label_delay_s: float = 15.0
    min_labels: int = 300
    feedback_delay_s: float = 3.0  # replay: ground truth is posted this long after each prediction
    # Baseline history sent in one burst before phase 1, so the monitors' first windows are not a few dozen
    # rows (a 2% share SLO on 50 rows breaches by chance; a running service has history when monitored).
    history_rows: int = 600
    timeout_s: float = 300.0  # bound on one scenario run (baseline + fault + waiting)
    grace_s: float = 30.0  # keep watching the inbox this long after the fault phase ended
    notify_cooldown_s: float = 600.0
    digest_interval_s: float = 20.0  # input shifts without a symptom: the digest email (a deployment: daily)

    ENV_PREFIX = "MLMON_DEMO_"

    @property
    def services(self) -> ServiceTimings:
        names = {f.name for f in dataclasses.fields(ServiceTimings)}
        return ServiceTimings(**{name: getattr(self, name) for name in names})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: DemoTimings | None = None) -> DemoTimings:
        """Defaults overridden by ``MLMON_DEMO_<FIELD>`` (e.g. ``MLMON_DEMO_RATE=100``, ``MLMON_DEMO_FAULT_S=30``)."""
        environ = os.environ if environ is None else environ
        base = base or cls()
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"{cls.ENV_PREFIX}{f.name.upper()}")
            if raw is None or not raw.strip():
                continue
            kind = type(getattr(base, f.name))
            try:
                changes[f.name] = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{cls.ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        return dataclasses.replace(base, **changes)
