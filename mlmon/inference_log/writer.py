"""The inference log: a bounded in-memory queue drained by ONE background thread doing bulk writes.

Request handlers call ``submit`` (an append to a deque under a lock, no I/O). The thread writes batches of up
to ``bulk_size`` events to an ``EventWriter``. When the store is unavailable, batches go to the on-disk spool;
every ``replay_interval_s`` the thread re-checks the store by replaying the spool, oldest segment first, and
only then goes back to writing new events directly. If the queue is full, ``submit`` spools directly instead
of dropping. Events carry their ``prediction_id`` and stores write idempotently, so a replay that repeats a
partly written batch never duplicates an event. On ``close`` the queue is flushed to the store or spooled.

Outcomes in ``mlmon_inference_events_total``: ``stored`` (accepted by the store, including ones it already
held), ``spooled`` (written to the spool; counted again as ``stored`` once replayed), ``dropped`` (spool
full or unwritable), ``rejected`` (the store refused the event itself; not retried).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from prometheus_client.metrics import Counter

from mlmon.errors import StoreUnavailable
from mlmon.inference_log.spool import Spool
from mlmon.instrument.metrics import EVENT_OUTCOMES, InferenceLogMetrics
from mlmon.store.base import EventWriter, InferenceEvent, WriteResult

log = logging.getLogger(__name__)


def backend_of(store_url: str) -> str:
    """The ``backend`` label of a store URL."""
    return "sqlite" if store_url.startswith("sqlite:") else "elasticsearch"


class InferenceLogWriter:
    def __init__(
        self,
        store: EventWriter,
        spool: Spool,
        metrics: InferenceLogMetrics,
        *,
        model: str,
        model_version: str,
        backend: str = "sqlite",
        queue_size: int = 20_000,
        bulk_size: int = 500,
        flush_interval_s: float = 0.5,
        replay_interval_s: float = 2.0,
        stall_after_s: float = 5.0,
    ) -> None:
        self.store = store
        self.spool = spool
        self.queue_size = queue_size
        self.bulk_size = bulk_size
        self.flush_interval_s = flush_interval_s
        self.replay_interval_s = replay_interval_s
        self.stall_after_s = stall_after_s
        self._inflight_since: float | None = None
        self._buffer: deque[InferenceEvent] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._inflight: list[InferenceEvent] = []
        self._store_ok = True
        self._next_check = 0.0
        self._last_contact = time.monotonic()
        self._replayed: dict[int, int] = {}  # segment seq -> events already written from it (this process)
        base = (model, model_version)
        self._outcome: dict[str, Counter] = {o: metrics.events.labels(*base, o) for o in EVENT_OUTCOMES}
        self._backend_errors = metrics.backend_errors.labels(*base, backend)
        metrics.queue_depth.labels(*base).set_function(lambda: len(self._buffer))
        metrics.spool_bytes.labels(*base).set_function(lambda: self.spool.size_bytes)

    # -- state ---------------------------------------------------------------------------------------
    @property
    def store_ok(self) -> bool:
        return self._store_ok

    @property
    def spooling(self) -> bool:
        """True while events go to (or wait in) the spool instead of the store, or while a store write has
        hung for longer than ``stall_after_s`` (a stopped server: events buffer until the client times out)."""
        stalled = self._inflight_since is not None and time.monotonic() - self._inflight_since > self.stall_after_s
        return stalled or not self._store_ok or not self.spool.is_empty()

    @property
    def queue_depth(self) -> int:
        return len(self._buffer)

    # -- request path ----------------------------------------------------------------------------------
    def submit(self, events: Sequence[InferenceEvent]) -> None:
        """Queue events for the background thread; never blocks on the store."""
        overflow: Sequence[InferenceEvent] = ()
        with self._cond:
            room = self.queue_size - len(self._buffer)
            if room >= len(events):
                self._buffer.extend(events)
            else:
                self._buffer.extend(events[: max(room, 0)])
                overflow = events[max(room, 0) :]
            if len(self._buffer) >= self.bulk_size:
                self._cond.notify()
        if overflow:
            self._to_spool(overflow)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mlmon-inference-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Flush the queue to the store (or the spool) and stop the thread; bounded by ``timeout``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # The store call is hanging: keep what is in memory on disk. A write that still lands later
                # is harmless (idempotent by prediction_id).
                log.warning("inference log did not stop within %.1fs; spooling what is left", timeout)
                with self._cond:
                    left = list(self._inflight) + list(self._buffer)
                    self._buffer.clear()
                self._to_spool(left)
        else:
            with self._cond:
                left = list(self._buffer)
                self._buffer.clear()
            self._to_spool(left)
        self.spool.close()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and nothing is in flight (tests, benchmarks); True when drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify()
        while time.monotonic() < deadline:
            with self._cond:
                if not self._buffer and not self._inflight:
                    return True
                self._cond.notify()
            time.sleep(0.005)
        return False

    # -- background thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if len(self._buffer) < self.bulk_size and not self._stopping:
                    self._cond.wait(self.flush_interval_s)
                count = min(len(self._buffer), self.bulk_size)
                batch = [self._buffer.popleft() for _ in range(count)]
                self._inflight = batch
                done = self._stopping and not self._buffer
            try:
                self._handle(batch)
            except Exception:  # the logger thread must never die; keep the events on disk
                log.exception("inference log: unexpected error; spooling %d event(s)", len(batch))
                self._to_spool(batch)
            finally:
                with self._cond:
                    self._inflight = []
            if done:
                return

    def _handle(self, batch: list[InferenceEvent]) -> None:
        now = time.monotonic()
        if self._stopping and not self._store_ok:
            self._to_spool(batch)  # shutting down during an outage: no time for re-checks
            return
        if not self._store_ok or not self.spool.is_empty():
            if now < self._next_check or not self._store_answers() or not self._replay_spool():
                self._to_spool(batch)  # keep order: new events queue behind the spooled ones
                return
            if not self._store_ok and not batch:
                self._probe()  # nothing was replayed or written: ask the store directly
                return
        elif not batch:
            self._idle_check(now)
            return
        if batch and not self._write(batch):
            self._to_spool(batch)

    def _write(self, events: Sequence[InferenceEvent]) -> bool:
        self._inflight_since = time.monotonic()
        try:
            result = self.store.write_events(events)
        except StoreUnavailable as exc:
            self._mark_down(f"store unavailable: {exc}")
            return False
        except Exception as exc:  # an unexpected store error is treated as an outage, never as data loss
            log.exception("inference store write failed")
            self._mark_down(f"store error: {exc.__class__.__name__}")
            return False
        finally:
            self._inflight_since = None
        self._count(result)
        if not self._store_ok:
            log.info("inference store is reachable again")
        self._store_ok = True
        self._last_contact = time.monotonic()
        return True

    def _count(self, result: WriteResult) -> None:
        if result.stored or result.duplicates:
            self._outcome["stored"].inc(result.stored + result.duplicates)
        if result.rejected:
            self._outcome["rejected"].inc(len(result.rejected))
            pid, reason = result.rejected[0]
            log.warning("store rejected %d event(s), e.g. %s: %s", len(result.rejected), pid, reason)

    def _mark_down(self, reason: str) -> None:
        self._backend_errors.inc()
        if self._store_ok:
            log.warning("inference log is spooling to %s (%s)", self.spool.directory, reason)
        self._store_ok = False
        self._next_check = time.monotonic() + self.replay_interval_s

    def _replay_spool(self) -> bool:
        """Write every spooled event in order; True when the spool is empty and the store took them all."""
        for _ in range(1000):  # bounded: each pass replays what was sealed; appends during it come next pass
            segments = self.spool.seal()
            if not segments:
                return True
            for segment in segments:
                events = self.spool.read(segment)
                start = self._replayed.get(segment.seq, 0)
                for offset in range(start, len(events), self.bulk_size):
                    if self._stopping:
                        return False  # shutting down: the rest stays spooled for the next start
                    if not self._write(events[offset : offset + self.bulk_size]):
                        return False
                    self._replayed[segment.seq] = offset + self.bulk_size
                self.spool.remove(segment)
                self._replayed.pop(segment.seq, None)
                log.info("replayed spool segment %s (%d events)", segment.path.name, len(events))
        return self.spool.is_empty()

    def _ping(self) -> bool | None:
        """The store's ping (None when it has none); a hanging ping counts as a stalled write."""
        ping: Any = getattr(self.store, "ping", None)
        if ping is None:
            return None
        self._inflight_since = time.monotonic()
        try:
            return bool(ping())
        except Exception:
            return False
        finally:
            self._inflight_since = None

    def _store_answers(self) -> bool:
        """Cheap re-check before reading the spool back; without a ping the replay's first write checks."""
        if self._store_ok:
            return True
        ok = self._ping()
        if ok is False:
            self._mark_down("ping failed")
        return ok is not False

    def _probe(self) -> None:
        ok = self._ping()
        if ok is None:
            self._next_check = time.monotonic() + self.replay_interval_s  # the next write decides
        elif ok:
            log.info("inference store is reachable again")
            self._store_ok = True
            self._last_contact = time.monotonic()
        else:
            self._mark_down("ping failed")

    def _idle_check(self, now: float) -> None:
        """With no traffic, still notice an outage so that /readyz tells the truth."""
        if now - self._last_contact < self.replay_interval_s:
            return
        self._last_contact = now
        if self._ping() is False:
            self._mark_down("ping failed")

    def _to_spool(self, events: Sequence[InferenceEvent]) -> None:
        if not events:
            return
        result = self.spool.append(events)
        if result.spooled:
            self._outcome["spooled"].inc(result.spooled)
        if result.dropped:
            self._outcome["dropped"].inc(result.dropped)
