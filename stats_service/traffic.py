"""Golden signals and traffic change from Prometheus (PromQL over its HTTP API).

Requests, errors and latency are those of the spec's prediction routes (``serving.routes``: ``/predict`` for
the reference server, whatever a team's own app serves); volume counts *predictions* (rows of a batch count
one by one, from ``mlmon_responses_total``), not HTTP requests. Volume is compared with the same window one
day and one week earlier (``offset``), so a daily rhythm is not a finding but a drop against yesterday is.
Nothing here raises for an outage: the caller gets ``None``s and the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mlmon.errors import BackendUnavailable
from mlmon.promql import PrometheusClient


@dataclass
class TrafficResult:
    window: str
    request_rate: float | None = None  # requests per second to the prediction routes
    error_ratio: float | None = None  # share of 5xx among them
    p95_latency_ms: float | None = None
    volume: float | None = None  # predictions in the window
    previous_volume: dict[str, float | None] = field(default_factory=dict)  # offset -> predictions
    change_ratio: dict[str, float | None] = field(default_factory=dict)  # offset -> volume / previous - 1
    error: str | None = None  # why Prometheus could not be checked


def route_selector(model: str, routes: Sequence[str]) -> str:
    """``model="m",endpoint=~"/a|/b"`` (route templates escaped for the RE2 match)."""
    pattern = "|".join(re.escape(route).replace("\\", "\\\\") for route in routes)
    return f'model="{model}",endpoint=~"{pattern}"'


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def query_traffic(
    client: PrometheusClient, model: str, routes: Sequence[str], window: str, offsets: list[str], at: datetime
) -> TrafficResult:
    sel = route_selector(model, routes)
    predictions = f'mlmon_responses_total{{model="{model}"}}'
    result = TrafficResult(window=window)
    try:
        result.request_rate = client.scalar(f"sum(rate(mlmon_requests_total{{{sel}}}[{window}]))", at)
        result.error_ratio = _finite(
            client.scalar(
                f'sum(rate(mlmon_requests_total{{{sel},status=~"5.."}}[{window}])) '
                f"/ sum(rate(mlmon_requests_total{{{sel}}}[{window}]))",
                at,
            )
        )
        p95 = _finite(
            client.scalar(
                f"histogram_quantile(0.95, sum by (le) "
                f"(rate(mlmon_request_duration_seconds_bucket{{{sel}}}[{window}])))",
                at,
            )
        )
        result.p95_latency_ms = None if p95 is None else p95 * 1000.0
        result.volume = client.scalar(f"sum(increase({predictions}[{window}]))", at)
        for offset in offsets:
            before = client.scalar(f"sum(increase({predictions}[{window}] offset {offset}))", at)
            result.previous_volume[offset] = before
            if before and result.volume is not None:
                result.change_ratio[offset] = result.volume / before - 1.0
            else:
                result.change_ratio[offset] = None  # nothing to compare with (new service, retention)
    except BackendUnavailable as exc:
        result.error = str(exc)
    return result
