"""A small Prometheus HTTP API client for the statistics service and the drift detector.

Sample values come back as strings (``"NaN"``, ``"+Inf"`` included) and are parsed with ``float``. Any failure
(connection refused, timeout, HTTP error, ``status: error``) raises ``BackendUnavailable`` with the reason, so
the jobs can carry on with what the store alone tells them and say what they could not check.

An outage is told once and costs one timeout: after a failure to reach Prometheus the client answers
``BackendUnavailable`` at once for ``retry_after_s`` (a run's remaining queries do not each wait for their own
timeout), logs a warning when Prometheus goes away and an info line when it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from mlmon.errors import BackendUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


class PrometheusClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retry_after_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down: str | None = None  # why Prometheus was unreachable, while it is considered down
        self._retry_at = 0.0

    def close(self) -> None:
        self._client.close()

    def query(self, expr: str, at: datetime | None = None) -> list[Sample]:
        """Instant query; a vector or scalar result as samples."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        data = self._call("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list):
            return [Sample({}, float(result[1]))]
        if kind != "vector" or not isinstance(result, list):
            raise BackendUnavailable(f"Prometheus returned {kind!r} for {expr!r}, expected a vector")
        return [Sample(dict(item.get("metric", {})), float(item["value"][1])) for item in result]

    def scalar(self, expr: str, at: datetime | None = None) -> float | None:
        """The single value of ``expr``, or None when the result is empty."""
        samples = self.query(expr, at)
        if not samples:
            return None
        if len(samples) > 1:
            raise BackendUnavailable(f"{expr!r} returned {len(samples)} series, expected one; aggregate it")
        return samples[0].value

    def ready(self) -> bool:
        try:
            return self._client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def _call(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._down is not None and self._clock() < self._retry_at:
            raise BackendUnavailable(f"{self._down} (not retried before {self.retry_after_s:g}s)")
        try:
            response = self._client.post(path, data=dict(params))
        except httpx.HTTPError as exc:
            reason = f"Prometheus at {self.base_url} unreachable: {exc.__class__.__name__}"
            if self._down is None:
                log.warning("%s; Prometheus checks are skipped until it answers", reason)
            self._down, self._retry_at = reason, self._clock() + self.retry_after_s
            raise BackendUnavailable(reason) from exc
        if self._down is not None:
            log.info("Prometheus at %s answers again", self.base_url)
            self._down = None
        try:
            body = response.json()
        except ValueError:
            raise BackendUnavailable(f"Prometheus answered {response.status_code} without JSON") from None
        if response.status_code >= 400 or body.get("status") != "success":
            raise BackendUnavailable(
                f"Prometheus query failed ({response.status_code} {body.get('errorType')}): {body.get('error')}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise BackendUnavailable("Prometheus answered without data")
        return data


def histogram_bins(samples: list[Sample]) -> tuple[list[float], list[float]]:
    """Cumulative ``le`` buckets → (upper bounds without +Inf, per-bin counts including the +Inf bin)."""
    by_le: dict[float, float] = {}
    for sample in samples:
        le = sample.labels.get("le")
        if le is None:
            continue
        by_le[float(le)] = by_le.get(float(le), 0.0) + sample.value
    if not by_le:  # no samples for the window (a gap, a restart of Prometheus)
        return [], []
    bounds = sorted(by_le)
    cumulative = [by_le[b] for b in bounds]
    counts = [max(c - p, 0.0) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
    return [b for b in bounds if b != float("inf")], counts
