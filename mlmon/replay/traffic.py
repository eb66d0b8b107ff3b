"""The traffic generator: real HTTP requests to a model server at a chosen rate, for a bounded duration.

Every 100 ms it sends what the rate owes for the time that passed (one request, or one batch request when
several rows are due, split at ``max_batch``), remembers each prediction's true label and posts it to
``/feedback`` once ``feedback_delay`` has passed, as delayed ground truth does in production. Only the URL it
is given is contacted.

The rows are deterministic for a seed: row *i* of a replay is the same whatever the timing, because rows are
drawn in fixed-size chunks and a scenario's ``progress`` is the row's position in the planned total.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mlmon.demo_data import default_probability, generate_features
from mlmon.replay.scenarios import Scenario

TICK_S = 0.1
CHUNK_ROWS = 200  # rows drawn (and transformed) at a time; fixed so that a seed gives the same rows
MAX_ROWS = 2_000_000  # hard bound on what one replay may send
MAX_BATCH = 256  # the model server's default MLMON_MAX_BATCH_SIZE
MAX_LATENCIES = 20_000  # request durations kept for the summary


@dataclass
class ReplayStats:
    scenario: str
    planned: int = 0
    sent: int = 0
    errors: int = 0
    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    feedback_sent: int = 0
    feedback_errors: int = 0
    elapsed_s: float = 0.0
    prediction_ids: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # one per /predict request

    @property
    def rate(self) -> float:
        """Predictions per second actually achieved."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency_ms(self, quantile: float) -> float | None:
        if not self.latencies_ms:
            return None
        return float(np.quantile(np.asarray(self.latencies_ms), quantile))

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        p95 = self.latency_ms(0.95)
        latency = f", p95 {p95:.0f} ms/request" if p95 is not None else ""
        return (
            f"[{self.scenario}] {self.elapsed_s:5.1f}s sent {self.sent}/{self.planned} ({self.rate:.0f}/s{latency}) "
            f"errors {self.errors} ({kinds}) feedback {self.feedback_sent}"
        )


def to_payload(row: dict[str, Any]) -> dict[str, Any]:
    """One application as JSON: NaN → null, numpy scalars → Python."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif isinstance(value, np.bool_ | bool):
            out[key] = bool(value)
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = None if math.isnan(float(value)) else float(value)
        else:
            out[key] = value
    return out


class ScenarioRows:
    """A seeded stream of (rows as sent, true labels) for a scenario over ``total`` planned rows.

    Ground truth comes from the true applications, before the fault: the fault changes what the model sees,
    not who defaults.
    """

    def __init__(self, scenario: Scenario, seed: int, total: int, chunk: int = CHUNK_ROWS) -> None:
        if total < 1 or chunk < 1:
            raise ValueError("total and chunk must be positive")
        self.scenario = scenario
        self.rng = np.random.default_rng(seed)
        self.total = total
        self.chunk = chunk
        self.drawn = 0
        self._rows: collections.deque[dict[str, Any]] = collections.deque()
        self._labels: collections.deque[str] = collections.deque()

    def _draw(self) -> None:
        true = generate_features(self.chunk, self.rng)
        defaulted = self.rng.random(self.chunk) < default_probability(true)
        progress = min(1.0, (self.drawn + self.chunk / 2) / self.total)
        sent = self.scenario.transform(true, progress, self.rng)
        self._rows.extend(to_payload(r) for r in sent.to_dict("records"))
        self._labels.extend("default" if d else "no_default" for d in defaulted)
        self.drawn += self.chunk

    def take(self, n: int) -> tuple[list[dict[str, Any]], list[str]]:
        while len(self._rows) < n:
            self._draw()
        return [self._rows.popleft() for _ in range(n)], [self._labels.popleft() for _ in range(n)]


def scenario_frame(
    scenario: Scenario, n: int, seed: int = 11, total: int | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The first ``n`` rows a replay of ``scenario`` would send (for inspection and tests)."""
    rows, labels = ScenarioRows(scenario, seed, total or n).take(n)
    return pd.DataFrame(rows), labels


def replay(
    target: str,
    scenario: Scenario,
    *,
    rate: float,
    duration: float,
    seed: int = 11,
    feedback_token: str | None = None,
    feedback_delay: float = 5.0,
    send_feedback: bool = True,
    progress: Callable[[ReplayStats], None] | None = None,
    stop: threading.Event | None = None,
    client: httpx.Client | None = None,
    max_batch: int = MAX_BATCH,
) -> ReplayStats:
    """Send ``scenario`` traffic at ``rate`` rows/s for ``duration`` seconds; block until done or ``stop``.

    At most ``rate * duration * 1.6`` rows are sent (1.6: room for the seasonal peaks); after the sending
    phase, labels still owed are delivered for at most ``feedback_delay + 2`` seconds.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    if max_batch < 1:
        raise ValueError("max_batch must be positive")
    planned = min(int(rate * duration), MAX_ROWS)
    limit = min(int(rate * duration * 1.6) + 1, MAX_ROWS)
    stats = ReplayStats(scenario=scenario.name, planned=planned)
    rows = ScenarioRows(scenario, seed, max(planned, 1))
    own_client = client is None
    http = client or httpx.Client(base_url=target.rstrip("/"), timeout=10.0)
    headers = {"Authorization": f"Bearer {feedback_token}"} if feedback_token else {}
    pending: collections.deque[tuple[float, str, str]] = collections.deque()
    started = last_tick = last_report = time.monotonic()
    owed = 0.0

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    try:
        while True:
            now = time.monotonic()
            elapsed = now - started
            if elapsed >= duration or stopped() or stats.sent + stats.errors >= limit:
                break
            # Owed rows follow the clock, not the loop: a slow request makes the next batch bigger.
            owed += rate * scenario.rate_profile(elapsed / duration) * (now - last_tick)
            last_tick = now
            due = min(int(owed), limit - stats.sent - stats.errors)
            if due > 0:
                owed -= due
                batch, labels = rows.take(due)
                for i in range(0, due, max_batch):
                    _send(
                        http,
                        batch[i : i + max_batch],
                        labels[i : i + max_batch],
                        stats,
                        pending,
                        time.monotonic() + feedback_delay,
                    )
            if send_feedback:
                _flush_feedback(http, headers, pending, stats, time.monotonic())
            stats.elapsed_s = time.monotonic() - started
            if progress is not None and now - last_report >= 1.0:
                progress(stats)
                last_report = now
            time.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
        stats.elapsed_s = time.monotonic() - started
        if send_feedback:  # deliver the ground truth still owed, bounded by the feedback delay
            deadline = time.monotonic() + feedback_delay + 2.0
            while pending and time.monotonic() < deadline and not stopped():
                _flush_feedback(http, headers, pending, stats, time.monotonic())
                time.sleep(0.1)
    finally:
        if own_client:
            http.close()
    if progress is not None:
        progress(stats)
    return stats


def _send(
    http: httpx.Client,
    batch: list[dict[str, Any]],
    labels: list[str],
    stats: ReplayStats,
    pending: collections.deque[tuple[float, str, str]],
    feedback_at: float,
) -> None:
    body: dict[str, Any] = batch[0] if len(batch) == 1 else {"instances": batch}
    stats.requests += 1
    started = time.perf_counter()
    try:
        response = http.post("/predict", json=body)
    except httpx.HTTPError:
        stats.errors += len(batch)
        return
    if len(stats.latencies_ms) < MAX_LATENCIES:
        stats.latencies_ms.append((time.perf_counter() - started) * 1000.0)
    stats.statuses[response.status_code] += 1
    if response.status_code != 200:
        stats.errors += len(batch)
        return
    data = response.json()
    results = [data] if len(batch) == 1 else data.get("predictions", [])
    for result, label in zip(results, labels, strict=False):
        stats.sent += 1
        stats.kinds[str(result.get("kind", "ok"))] += 1
        pid = result.get("prediction_id")
        if pid:
            pending.append((feedback_at, pid, label))
            if len(stats.prediction_ids) < 20:
                stats.prediction_ids.append(pid)


def _flush_feedback(
    http: httpx.Client,
    headers: dict[str, str],
    pending: collections.deque[tuple[float, str, str]],
    stats: ReplayStats,
    now: float,
    batch_size: int = 500,
) -> None:
    items: list[dict[str, str]] = []
    while pending and pending[0][0] <= now and len(items) < batch_size:
        _, pid, label = pending.popleft()
        items.append({"prediction_id": pid, "label": label})
    if not items:
        return
    try:
        response = http.post("/feedback", json=items, headers=headers)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    if ok:
        stats.feedback_sent += len(items)
    else:
        stats.feedback_errors += len(items)
