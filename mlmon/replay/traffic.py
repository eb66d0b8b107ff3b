"""The traffic generator: real HTTP requests to a model server at a chosen rate, for a bounded duration.

Every 100 ms it sends what the rate owes (one request, or one batch request when several rows are due),
remembers each prediction's true label and posts it to ``/feedback`` once ``feedback_delay`` has passed, as
delayed ground truth does in production. Only the URL it is given is contacted.
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
MAX_ROWS = 2_000_000  # hard bound on what one replay may send


@dataclass
class ReplayStats:
    scenario: str
    planned: int = 0
    sent: int = 0
    errors: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    feedback_sent: int = 0
    feedback_errors: int = 0
    elapsed_s: float = 0.0
    prediction_ids: list[str] = field(default_factory=list)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return (
            f"[{self.scenario}] {self.elapsed_s:5.1f}s sent {self.sent}/{self.planned} "
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
            out[key] = float(value)
        else:
            out[key] = value
    return out


class _Rows:
    """An endless, seeded stream of (sent rows, true labels)."""

    def __init__(self, scenario: Scenario, seed: int, chunk: int = 2000) -> None:
        self.scenario = scenario
        self.rng = np.random.default_rng(seed)
        self.chunk = chunk
        self._rows: list[dict[str, Any]] = []
        self._labels: list[str] = []

    def take(self, n: int, progress: float) -> tuple[list[dict[str, Any]], list[str]]:
        while len(self._rows) < n:
            true = generate_features(self.chunk, self.rng)
            defaulted = self.rng.random(self.chunk) < default_probability(true)
            sent = self.scenario.transform(true, progress, self.rng)
            self._rows += [to_payload(r) for r in sent.to_dict("records")]
            self._labels += ["default" if d else "no_default" for d in defaulted]
        rows, self._rows = self._rows[:n], self._rows[n:]
        labels, self._labels = self._labels[:n], self._labels[n:]
        return rows, labels


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
) -> ReplayStats:
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    planned = min(int(rate * duration * 1.6) + 1, MAX_ROWS)  # 1.6: room for the seasonal peaks
    stats = ReplayStats(scenario=scenario.name)
    stats.planned = int(rate * duration)
    rows = _Rows(scenario, seed)
    own_client = client is None
    http = client or httpx.Client(base_url=target.rstrip("/"), timeout=10.0)
    headers = {"Authorization": f"Bearer {feedback_token}"} if feedback_token else {}
    pending: collections.deque[tuple[float, str, str]] = collections.deque()
    started = time.monotonic()
    owed = 0.0
    last_report = started
    try:
        while True:
            now = time.monotonic()
            elapsed = now - started
            if elapsed >= duration or (stop is not None and stop.is_set()) or stats.sent >= planned:
                break
            share = elapsed / duration
            owed += rate * scenario.rate_profile(share) * TICK_S
            due = int(owed)
            if due:
                owed -= due
                batch, labels = rows.take(due, share)
                _send(http, batch, labels, stats, pending, now + feedback_delay)
            if send_feedback:
                _flush_feedback(http, headers, pending, stats, now)
            stats.elapsed_s = time.monotonic() - started
            if progress is not None and now - last_report >= 1.0:
                progress(stats)
                last_report = now
            time.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
        if send_feedback:  # deliver the ground truth still owed, bounded by the feedback delay
            deadline = time.monotonic() + feedback_delay + 2.0
            while pending and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                _flush_feedback(http, headers, pending, stats, time.monotonic())
                time.sleep(0.2)
    finally:
        stats.elapsed_s = time.monotonic() - started
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
    try:
        response = http.post("/predict", json=body)
    except httpx.HTTPError:
        stats.errors += len(batch)
        return
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
    http: httpx.Client, headers: dict[str, str], pending: collections.deque[tuple[float, str, str]],
    stats: ReplayStats, now: float, batch_size: int = 500,
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


def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)
