"""Builders shared by the notify unit tests (plain data, no fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mlmon.notify.findings import ChartData, Finding, Incident

END = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
START = END - timedelta(hours=1)


def finding(
    role: str = "output",
    name: str = "prediction",
    severity: str = "warning",
    effect: float = 0.1,
    chart: bool = True,
    title: str | None = None,
) -> Finding:
    return Finding(
        role=role,  # type: ignore[arg-type]
        name=name,
        severity=severity,  # type: ignore[arg-type]
        title=title or f"{name} changed",
        before=0.12,
        after=0.31,
        unit="",
        detail=f"Jensen-Shannon {effect:.2f}",
        effect=effect,
        chart=ChartData(("low", "mid", "high"), (0.5, 0.3, 0.2), (0.2, 0.3, 0.5)) if chart else None,
    )


def incident(*findings: Finding, model: str = "loan_default", version: str = "v3") -> Incident:
    return Incident(
        model=model,
        model_version=version,
        window_start=START,
        window_end=END,
        findings=findings,
        prediction_ids=("p-1", "p-2", "p-3", "p-4", "p-5", "p-6"),
        report_path="/srv/reports/r1.html",
    )


class VirtualTime(list[float]):
    """Back-off waits recorded instead of waited out, yet counted as elapsed time: ``monotonic()`` is the real
    clock plus every recorded wait, so a notifier's retry budget sees both (the SMTP servers stay real).
    ``on_sleep`` runs at each wait, e.g. to change what listens on a port between two attempts."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic() + sum(self)
