"""Stakeholder fear signals: the spec's SLOs evaluated against what this run measured."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlmon.spec import SLO


@dataclass(frozen=True)
class SLOResult:
    slo: SLO
    value: float | None  # None: could not be measured this run (no labels yet, Prometheus down, …)
    breached: bool
    source: str

    @property
    def name(self) -> str:
        return str(self.slo)


def evaluate_slos(slos: list[SLO], measured: Mapping[str, tuple[float | None, str]]) -> list[SLOResult]:
    """``measured`` maps a metric name to (value, where it came from)."""
    results = []
    for slo in slos:
        value, source = measured.get(slo.metric, (None, "not measured"))
        known = value is not None and math.isfinite(value)
        results.append(SLOResult(slo, value if known else None, bool(known and not slo.holds(value)), source))  # type: ignore[arg-type]
    return results
