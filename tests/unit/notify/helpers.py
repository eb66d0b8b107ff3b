"""Builders shared by the notify unit tests (plain data, no fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlmon.notify import policy
from mlmon.notify.findings import ChartData, Contribution, Finding, Shift
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.state import ModelState, OutboxEntry

END = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
START = END - timedelta(hours=1)
T0 = END.timestamp()
MODEL = "loan_default"


def finding(
    signal: str = "output",
    name: str = "prediction",
    severity: str = "warning",
    effect: float = 2.0,
    chart: bool = True,
    title: str | None = None,
    **extra: Any,
) -> Finding:
    if signal == "integrity":
        extra.setdefault("integrity", "unit_change")
        extra.setdefault("fingerprint", "values ≈1000× the training values — a unit change?")
    return Finding(
        signal=signal,  # type: ignore[arg-type]
        name=name,
        severity=severity,  # type: ignore[arg-type]
        title=title or f"{name} changed",
        before=0.12,
        after=0.31,
        what="mean",
        detail="",
        statistic=effect * 0.1,
        threshold=0.1,
        test="psi",
        chart=ChartData(("low", "mid", "high"), (0.5, 0.3, 0.2), (0.2, 0.3, 0.5)) if chart else None,
        **extra,
    )


def shift(feature: str, effect: float, importance: float | None = None, decided: bool = False) -> Shift:
    return Shift(feature, "mean", 10.0, 12.0, "", effect * 0.1, 0.1, "wasserstein", importance, decided)


def contribution(
    *findings: Finding,
    service: str = "drift",
    at: datetime = END,
    shifts: tuple[Shift, ...] = (),
    model: str = MODEL,
    **extra: Any,
) -> Contribution:
    values: dict[str, Any] = {
        "prediction_ids": ("p-1", "p-2", "p-3", "p-4", "p-5", "p-6"),
        "report_path": "/srv/reports/r1.html",
        "interval_s": 60.0,
        **extra,
    }
    return Contribution(
        service=service,
        model=model,
        model_version="v3",
        window_start=at - timedelta(hours=1),
        window_end=at,
        findings=findings,
        shifts=shifts,
        at=at,
        **values,
    )


def notices_of(state: ModelState, now: float, rules: Rules, owner: str = "test") -> list[tuple[OutboxEntry, Notice]]:
    """Claim the due emails of ``state`` and turn them into notices (the tracker's path without a store)."""
    claimed = policy.claim(state, owner, now, rules)
    return [(e, Notice.of(state.model, e, rules.input_shifts == "notify")) for e in claimed]


def notice(*findings: Finding, shifts: tuple[Shift, ...] = (), rules: Rules | None = None, **extra: Any) -> Notice:
    """The opening notice of an incident with ``findings`` (one service, one run)."""
    rules = rules or Rules(cooldown_s=0)
    state = ModelState(model=extra.pop("model", MODEL))
    policy.apply(state, contribution(*findings, shifts=shifts, model=state.model, **extra), T0, rules)
    [(_, first)] = notices_of(state, T0, rules)
    return first


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
