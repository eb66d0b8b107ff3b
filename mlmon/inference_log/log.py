"""``InferenceLog``: durable before acknowledged — the one object a model server needs for its inference log.

    log = InferenceLog(Path("var/log") / "my_model", store, config=LogConfig(fsync="interval"),
                       metrics=inference_log_metrics(registry), model="my_model", model_version="3f2a")
    log.start()                 # own directory (locked), adopt what dead processes left, start shipping
    log.append(events)          # in the request, before answering: raises InferenceLogFull / …Unavailable
    log.status()                # for /readyz: store state, bytes, fill, lag, oldest age, outcome counts
    log.close()                 # ship what can be shipped within close_timeout_s, leave the rest on disk

Each process appends to its own directory under ``root`` (``ownership``); a shipper thread reads it and has the
events bulk-written to the store (``shipper``), by a child process when given a ``sink_factory``
(``ship_process``); events the store refuses go to ``<root>/dead-letter.jsonl``. See ``local_log`` for what
survives a process crash and a machine crash under each fsync policy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlmon.errors import InferenceLogUnavailable
from mlmon.inference_log.codec import encode
from mlmon.inference_log.dead_letter import FILE_NAME, DeadLetterFile
from mlmon.inference_log.delivery import Deliverer, LocalDelivery
from mlmon.inference_log.local_log import FsyncPolicy, LocalLog
from mlmon.inference_log.ownership import create_own
from mlmon.inference_log.ship_process import ProcessDelivery
from mlmon.inference_log.shipper import Shipper
from mlmon.instrument.metrics import EVENT_OUTCOMES, InferenceLogMetrics
from mlmon.store.base import InferenceEvent
from mlmon.store.protocols import EventSink

if TYPE_CHECKING:
    from mlmon.settings import ModelServerSettings

log = logging.getLogger(__name__)

OnFull = Literal["refuse", "drop"]
StoreState = Literal["ok", "spooling", "unavailable"]
ShipperMode = Literal["process", "thread"]


@dataclass(frozen=True)
class LogConfig:
    max_bytes: int = 256 * 1024 * 1024
    segment_bytes: int = 16 * 1024 * 1024
    fsync: FsyncPolicy = "interval"
    fsync_interval_s: float = 1.0
    on_full: OnFull = "refuse"  # refuse: 503, nothing acknowledged that is not logged; drop: serve, count
    ready_when_full: bool = False
    bulk_size: int = 2000
    flush_interval_s: float = 0.5
    retry_interval_s: float = 2.0
    stall_after_s: float = 5.0
    adopt_interval_s: float = 30.0
    close_timeout_s: float = 10.0
    shipper: ShipperMode = "process"  # used when the log is given a sink_factory; else always "thread"

    @classmethod
    def from_settings(cls, settings: ModelServerSettings) -> LogConfig:
        return cls(
            max_bytes=settings.log_max_bytes,
            segment_bytes=settings.log_segment_bytes,
            fsync=settings.log_fsync,
            fsync_interval_s=settings.log_fsync_interval_s,
            on_full=settings.log_full,
            ready_when_full=settings.log_full_ready,
            bulk_size=settings.bulk_size,
            flush_interval_s=settings.flush_interval_s,
            retry_interval_s=settings.replay_interval_s,
            adopt_interval_s=settings.log_adopt_interval_s,
            close_timeout_s=settings.log_close_timeout_s,
            shipper=settings.log_shipper,
        )


@dataclass(frozen=True)
class LogStatus:
    """What ``/readyz`` shows of the inference log (``to_json``)."""

    ready: bool
    reason: str | None  # why not ready
    store: StoreState
    store_reason: str | None
    bytes: int
    max_bytes: int
    fill: float
    lag_events: int
    oldest_unshipped_age_s: float
    adopted_logs: int
    full: bool
    write_error: str | None
    events: dict[str, int] = field(default_factory=dict)  # outcome -> count since this process started
    directory: str = ""
    dead_letter_file: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Outcomes:
    """``mlmon_inference_events_total`` and ``mlmon_backend_errors_total``, plus the same counts in memory."""

    def __init__(self, metrics: InferenceLogMetrics | None, model: str, version: str, backend: str) -> None:
        self.counts = dict.fromkeys(EVENT_OUTCOMES, 0)
        self._lock = threading.Lock()
        self._children = {o: metrics.events.labels(model, version, o) for o in EVENT_OUTCOMES} if metrics else {}
        self._errors = metrics.backend_errors.labels(model, version, backend) if metrics else None

    def add(self, outcome: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self.counts[outcome] += n
        child = self._children.get(outcome)
        if child is not None:
            child.inc(n)

    def backend_error(self) -> None:
        if self._errors is not None:
            self._errors.inc()


class InferenceLog:
    def __init__(
        self,
        root: Path,
        sink: EventSink,
        *,
        config: LogConfig | None = None,
        metrics: InferenceLogMetrics | None = None,
        model: str = "",
        model_version: str = "",
        sink_factory: Callable[[], EventSink] | None = None,
    ) -> None:
        """``sink_factory`` (picklable, building a sink like ``sink``) lets the events be decoded and written in a
        child process (``config.shipper="process"``, see ``ship_process``); without it, in a thread of this one."""
        self.root = Path(root)
        self.sink = sink
        self.sink_factory = sink_factory
        self.config = config or LogConfig()
        self.outcomes = _Outcomes(metrics, model, model_version, str(getattr(sink, "backend", "store")))
        self._gauges = (
            tuple(
                g.labels(model, model_version)
                for g in (metrics.lag, metrics.log_bytes, metrics.fill_ratio, metrics.oldest_age)
            )
            if metrics
            else None
        )
        self.dead_letters = DeadLetterFile(self.root / FILE_NAME, self.config.max_bytes)
        self._own: LocalLog | None = None
        self._shipper: Shipper | None = None
        self._ticker: threading.Thread | None = None
        self._closing = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Create and lock this process's directory, adopt unowned ones, start shipping. Raises
        ``InferenceLogUnavailable`` when the directory cannot be created."""
        cfg = self.config
        try:
            directory, lock_fd = create_own(self.root)
        except OSError as exc:
            raise InferenceLogUnavailable(
                f"cannot create the inference log under {self.root}: {exc}", hint="check MLMON_LOG_DIR"
            ) from None
        self._own = LocalLog(
            directory, lock_fd, max_bytes=cfg.max_bytes, segment_bytes=cfg.segment_bytes, fsync=cfg.fsync
        )
        deliverer: Deliverer = LocalDelivery(self.sink)
        if self.sink_factory is not None and cfg.shipper == "process":
            deliverer = ProcessDelivery(self.sink_factory)
        self._shipper = Shipper(
            deliverer,
            self._own,
            self.root,
            self.dead_letters,
            self.outcomes,
            bulk_size=cfg.bulk_size,
            flush_interval_s=cfg.flush_interval_s,
            retry_interval_s=cfg.retry_interval_s,
            adopt_interval_s=cfg.adopt_interval_s,
        )
        self._shipper.start()
        self._ticker = threading.Thread(target=self._tick, name="mlmon-log-ticker", daemon=True)
        self._ticker.start()
        log.info("inference log %s (fsync=%s, max %d bytes)", directory, cfg.fsync, cfg.max_bytes)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking events, ship what can be shipped within ``timeout`` (default ``close_timeout_s``),
        and leave the rest on disk for the next process. Idempotent."""
        own, shipper = self._own, self._shipper
        if own is None or shipper is None or self._closing.is_set():
            return
        self._closing.set()
        own.close()
        ended = shipper.stop(self.config.close_timeout_s if timeout is None else timeout)
        shipper.deliverer.close()
        if self._ticker is not None:
            self._ticker.join(2.0)
        self._update_gauges()
        left = shipper.pending
        if ended and own.pending == 0:
            own.remove()
        else:
            own.release()
        for source in shipper.adopted:
            source.release()
        if left:
            log.warning("inference log: %d event(s) not shipped yet stay in %s for the next start", left, self.root)

    # -- request path -------------------------------------------------------------------------------------------
    def append(self, events: Sequence[InferenceEvent]) -> bool:
        """Log the events of one prediction request before it is answered. True when logged; False when the
        log is full and ``on_full="drop"`` (the events are counted as dropped). Raises ``InferenceLogFull`` /
        ``InferenceLogUnavailable`` (counted as refused) otherwise: the caller must not acknowledge them."""
        own, shipper = self._own, self._shipper
        if not events:
            return True
        if own is None or shipper is None:
            self.outcomes.add("refused", len(events))
            raise InferenceLogUnavailable("the inference log is not started")
        data = encode(events)
        try:
            own.append(data, len(events))
        except InferenceLogUnavailable:
            if self.config.on_full == "drop" and not self._closing.is_set():
                self.outcomes.add("dropped", len(events))
                return False
            self.outcomes.add("refused", len(events))
            raise
        if not shipper.store_ok:
            self.outcomes.add("spooled", len(events))
        if own.pending >= self.config.bulk_size:
            shipper.wake()
        return True

    # -- state ------------------------------------------------------------------------------------------------
    def status(self) -> LogStatus:
        own, shipper, cfg = self._own, self._shipper, self.config
        if own is None or shipper is None:
            return LogStatus(
                ready=False, reason="the inference log is not started", store="unavailable", store_reason=None,
                bytes=0, max_bytes=cfg.max_bytes, fill=0.0, lag_events=0, oldest_unshipped_age_s=0.0,
                adopted_logs=0, full=False, write_error=None, events=dict(self.outcomes.counts),
            )  # fmt: skip
        sources = shipper.sources
        size = sum(s.bytes for s in sources)
        inflight = shipper.inflight_since
        stalled_s = time.monotonic() - inflight if inflight is not None else 0.0
        writable = own.write_error is None and not self._closing.is_set()
        store: StoreState = "ok"
        store_reason = None
        if not shipper.store_ok or stalled_s > cfg.stall_after_s:
            store = "spooling" if writable and not own.full else "unavailable"
            store_reason = shipper.store_reason if not shipper.store_ok else None
            if stalled_s > cfg.stall_after_s:
                store_reason = f"a store call has not answered for {stalled_s:.0f} s"
        reason = None
        if not writable:
            reason = f"the local inference log cannot be written ({own.write_error or 'closed'})"
        elif own.full and not cfg.ready_when_full:
            action = "refused (503)" if cfg.on_full == "refuse" else "served but not logged (dropped)"
            reason = f"the local inference log is full: predictions are {action} until the store takes events"
        return LogStatus(
            ready=reason is None,
            reason=reason,
            store=store,
            store_reason=store_reason,
            bytes=size,
            max_bytes=cfg.max_bytes,
            fill=round(own.bytes / cfg.max_bytes, 4),
            lag_events=sum(s.pending for s in sources),
            oldest_unshipped_age_s=round(max(s.oldest_unshipped_age() for s in sources), 3),
            adopted_logs=len(shipper.adopted),
            full=own.full,
            write_error=own.write_error,
            events=dict(self.outcomes.counts),
            directory=str(own.directory),
            dead_letter_file=str(self.dead_letters.path),
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until every event appended so far is shipped; True when done (tests, benchmarks)."""
        shipper = self._shipper
        if shipper is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if shipper.pending == 0 and shipper.inflight_since is None:
                return True
            shipper.hurry()
            time.sleep(0.01)
        return False

    # -- housekeeping thread ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Every second (or fsync interval): sync the log (``interval`` policy) and refresh the gauges —
        from here rather than the shipper, which may be stuck in a store call."""
        cfg = self.config
        every = min(cfg.fsync_interval_s, 1.0) if cfg.fsync == "interval" else 1.0
        next_sync = time.monotonic() + cfg.fsync_interval_s
        while not self._closing.wait(every):
            own = self._own
            if own is not None and cfg.fsync == "interval" and time.monotonic() >= next_sync:
                next_sync = time.monotonic() + cfg.fsync_interval_s
                if own.unsynced:
                    with contextlib.suppress(InferenceLogUnavailable):  # logged; the next append reports it
                        own.sync()
            self._update_gauges()

    def _update_gauges(self) -> None:
        if self._gauges is None or self._own is None or self._shipper is None:
            return
        status = self.status()
        lag, size, fill, age = self._gauges
        lag.set(status.lag_events)
        size.set(status.bytes)
        fill.set(status.fill)
        age.set(status.oldest_unshipped_age_s)
