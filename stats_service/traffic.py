"""Golden signals and traffic change from Prometheus (PromQL over its HTTP API).

Volume is compared with the same window one day and one week earlier (``offset``), so a daily rhythm is not
a finding but a drop against yesterday is. Nothing here raises for an outage: the caller gets ``None``s and
the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlmon.errors import BackendUnavailable
from mlmon.promql import PrometheusClient


@dataclass
class TrafficResult:
    window: str
    request_rate: float | None = None  # requests per second to /predict
    error_ratio: float | None = None  # share of 5xx
    p95_latency_ms: float | None = None
    volume: float | None = None  # requests in the window
    previous_volume: dict[str, float | None] = field(default_factory=dict)  # offset -> volume
    change_ratio: dict[str, float | None] = field(default_factory=dict)  # offset -> volume / previous - 1
    error: str | None = None  # why Prometheus could not be checked


def _selector(model: str) -> str:
    return f'model="{model}",endpoint="/predict"'


def query_traffic(client: PrometheusClient, model: str, window: str, offsets: list[str], at: datetime) -> TrafficResult:
    sel = _selector(model)
    result = TrafficResult(window=window)
    try:
        result.request_rate = client.scalar(f"sum(rate(mlmon_requests_total{{{sel}}}[{window}]))", at)
        result.error_ratio = client.scalar(
            f'sum(rate(mlmon_requests_total{{{sel},status=~"5.."}}[{window}])) '
            f"/ sum(rate(mlmon_requests_total{{{sel}}}[{window}]))",
            at,
        )
        p95 = client.scalar(
            f"histogram_quantile(0.95, sum by (le) (rate(mlmon_request_duration_seconds_bucket{{{sel}}}[{window}])))",
            at,
        )
        result.p95_latency_ms = None if p95 is None or p95 != p95 else p95 * 1000.0
        result.volume = client.scalar(f"sum(increase(mlmon_requests_total{{{sel}}}[{window}]))", at)
        for offset in offsets:
            before = client.scalar(f"sum(increase(mlmon_requests_total{{{sel}}}[{window}] offset {offset}))", at)
            result.previous_volume[offset] = before
            if before and result.volume is not None:
                result.change_ratio[offset] = result.volume / before - 1.0
            else:
                result.change_ratio[offset] = None  # nothing to compare with (new service, retention)
    except BackendUnavailable as exc:
        result.error = str(exc)
    if result.error_ratio is not None and result.error_ratio != result.error_ratio:  # NaN: no traffic
        result.error_ratio = None
    return result
