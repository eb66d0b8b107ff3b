"""The traffic sender: real HTTP requests to a model server at a chosen rate, for a bounded duration.

Every 100 ms it sends what the rate owes for the time that passed (one request, or one batch request
``{"instances": [...]}`` when several rows are due and ``max_batch`` > 1), remembers each prediction's true
label and posts it to ``/feedback`` once ``feedback_delay`` has passed, as delayed ground truth does in
production. Only the URL it is given is contacted. It stops early, with the first error kept, once more than
``max_error_share`` of at least ``MIN_REQUESTS_FOR_ABORT`` requests failed: a misconfigured target is told at
once instead of after the whole duration.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from mlmon.replay.sources import RowSource

TICK_S = 0.1
MAX_ROWS = 2_000_000  # hard bound on what one replay may send
MAX_BATCH = 256  # the model server's default MLMON_MAX_BATCH_SIZE
MAX_LATENCIES = 20_000  # request durations kept for the summary
MIN_REQUESTS_FOR_ABORT = 20


@dataclass
class ReplayStats:
    source: str
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
    latencies_ms: list[float] = field(default_factory=list)  # one per prediction request
    first_error: str | None = None
    aborted: bool = False
    exhausted: bool = False  # a finite source ran out of rows

    @property
    def rate(self) -> float:
        """Predictions per second actually achieved."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def error_share(self) -> float:
        return self.errors / (self.sent + self.errors) if self.sent + self.errors else 0.0

    def latency_ms(self, quantile: float) -> float | None:
        if not self.latencies_ms:
            return None
        return float(np.quantile(np.asarray(self.latencies_ms), quantile))

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        p95 = self.latency_ms(0.95)
        latency = f", p95 {p95:.0f} ms/request" if p95 is not None else ""
        return (
            f"[{self.source}] {self.elapsed_s:5.1f}s sent {self.sent}/{self.planned} ({self.rate:.0f}/s{latency}) "
            f"errors {self.errors} ({kinds}) feedback {self.feedback_sent}"
        )


@dataclass
class _Target:
    http: httpx.Client
    route: str
    max_batch: int
    id_key: str
    headers: dict[str, str]


def replay(
    target: str,
    source: RowSource,
    *,
    rate: float,
    duration: float,
    route: str = "/predict",
    feedback_token: str | None = None,
    feedback_delay: float = 5.0,
    send_feedback: bool = True,
    progress: Callable[[ReplayStats], None] | None = None,
    stop: threading.Event | None = None,
    client: httpx.Client | None = None,
    max_batch: int = MAX_BATCH,
    max_error_share: float = 1.0,
    id_key: str = "prediction_id",
) -> ReplayStats:
    """Send ``source``'s rows at ``rate`` rows/s for ``duration`` seconds; block until done or ``stop``.

    At most ``rate * duration * 1.6`` rows are sent (1.6: room for a source's rate peaks); after the sending
    phase, labels still owed are delivered for at most ``feedback_delay + 2`` seconds.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    if max_batch < 1:
        raise ValueError("max_batch must be positive")
    planned = min(int(rate * duration), MAX_ROWS)
    limit = min(int(rate * duration * 1.6) + 1, MAX_ROWS)
    stats = ReplayStats(source=source.name, planned=planned)
    own_client = client is None
    http = client or httpx.Client(base_url=target.rstrip("/"), timeout=10.0)
    to = _Target(
        http, route, max_batch, id_key, {"Authorization": f"Bearer {feedback_token}"} if feedback_token else {}
    )
    pending: collections.deque[tuple[float, str, Any]] = collections.deque()
    started = last_tick = last_report = time.monotonic()
    owed = 0.0

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    try:
        while True:
            now = time.monotonic()
            elapsed = now - started
            if elapsed >= duration or stopped() or stats.sent + stats.errors >= limit or stats.exhausted:
                break
            # Owed rows follow the clock, not the loop: a slow request makes the next batch bigger.
            owed += rate * source.rate_at(elapsed / duration) * (now - last_tick)
            last_tick = now
            due = min(int(owed), limit - stats.sent - stats.errors)
            if due > 0:
                owed -= due
                batch, labels = source.take(due)
                stats.exhausted = len(batch) < due
                step = to.max_batch
                for i in range(0, len(batch), step):
                    _send(to, batch[i : i + step], labels[i : i + step], stats, pending, now + feedback_delay)
            if stats.requests >= MIN_REQUESTS_FOR_ABORT and stats.error_share > max_error_share:
                stats.aborted = True
                break
            if send_feedback:
                _flush_feedback(to, pending, stats, time.monotonic())
            stats.elapsed_s = time.monotonic() - started
            if progress is not None and now - last_report >= 1.0:
                progress(stats)
                last_report = now
            time.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
        stats.elapsed_s = time.monotonic() - started
        if send_feedback and not stats.aborted:  # deliver the ground truth still owed, bounded by the delay
            deadline = time.monotonic() + feedback_delay + 2.0
            while pending and time.monotonic() < deadline and not stopped():
                _flush_feedback(to, pending, stats, time.monotonic())
                time.sleep(0.1)
    finally:
        if own_client:
            http.close()
    if progress is not None:
        progress(stats)
    return stats


def _fail(stats: ReplayStats, count: int, message: str) -> None:
    stats.errors += count
    if stats.first_error is None:
        stats.first_error = message


def _send(
    to: _Target,
    batch: list[dict[str, Any]],
    labels: list[Any],
    stats: ReplayStats,
    pending: collections.deque[tuple[float, str, Any]],
    feedback_at: float,
) -> None:
    body: dict[str, Any] = batch[0] if len(batch) == 1 else {"instances": batch}
    stats.requests += 1
    started = time.perf_counter()
    try:
        response = to.http.post(to.route, json=body)
    except httpx.HTTPError as exc:
        _fail(stats, len(batch), f"POST {to.route}: {exc.__class__.__name__}: {exc}")
        return
    if len(stats.latencies_ms) < MAX_LATENCIES:
        stats.latencies_ms.append((time.perf_counter() - started) * 1000.0)
    stats.statuses[response.status_code] += 1
    if response.status_code != 200:
        _fail(stats, len(batch), f"POST {to.route} → {response.status_code}: {response.text[:300]}")
        return
    data = response.json()
    results = [data] if len(batch) == 1 else data.get("predictions", [])
    for result, label in zip(results, labels, strict=False):
        stats.sent += 1
        stats.kinds[str(result.get("kind", "ok"))] += 1
        pid = result.get(to.id_key)
        if pid and label is not None:
            pending.append((feedback_at, pid, label))
        if pid and len(stats.prediction_ids) < 20:
            stats.prediction_ids.append(pid)


def _flush_feedback(
    to: _Target,
    pending: collections.deque[tuple[float, str, Any]],
    stats: ReplayStats,
    now: float,
    batch_size: int = 500,
) -> None:
    items: list[dict[str, Any]] = []
    while pending and pending[0][0] <= now and len(items) < batch_size:
        _, pid, label = pending.popleft()
        items.append({"prediction_id": pid, "label": label})
    if not items:
        return
    try:
        response = to.http.post("/feedback", json=items, headers=to.headers)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    if ok:
        stats.feedback_sent += len(items)
    else:
        stats.feedback_errors += len(items)
