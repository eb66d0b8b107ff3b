"""The shipper: one thread per process that reads the local log(s) and bulk-writes the events to the store.

At-least-once: a batch is read from the position in the checkpoint, written, and only then is the position
moved (and the checkpoint rewritten). A crash in between ships the batch again; the store writes by
``prediction_id`` (the document id), so a replay never duplicates an event.

What happens to each line of a batch (stored, dead-lettered with the reason, or left for the retry after
an outage) is ``delivery``'s: in this thread (``LocalDelivery``) or in a child process
(``ship_process.ProcessDelivery``). During an outage nothing moves, the batch is retried every
``retry_interval_s`` while the log grows, and the events waiting count once as ``spooled``. Nothing blocks the
events behind a bad one.

The shipper also adopts log directories nobody holds (``ownership``) at start and every ``adopt_interval_s``,
ships them first (oldest data first) and deletes each once it is empty.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from mlmon.inference_log.dead_letter import DeadLetterFile
from mlmon.inference_log.delivery import Deliverer, short
from mlmon.inference_log.local_log import LocalLog
from mlmon.inference_log.ownership import orphans
from mlmon.inference_log.segments import LogDir, Position

log = logging.getLogger(__name__)


class Outcomes(Protocol):
    def add(self, outcome: str, n: int) -> None: ...

    def backend_error(self) -> None: ...


class Shipper:
    def __init__(
        self,
        deliverer: Deliverer,
        own: LocalLog,
        root: Path,
        dead_letters: DeadLetterFile,
        outcomes: Outcomes,
        *,
        bulk_size: int = 2000,
        flush_interval_s: float = 0.5,
        retry_interval_s: float = 2.0,
        adopt_interval_s: float = 30.0,
    ) -> None:
        self.deliverer = deliverer
        self.own = own
        self.root = Path(root)
        self.dead_letters = dead_letters
        self.outcomes = outcomes
        self.bulk_size = max(1, bulk_size)
        self.flush_interval_s = flush_interval_s
        self.retry_interval_s = retry_interval_s
        self.adopt_interval_s = adopt_interval_s
        self.adopted: list[LogDir] = []  # oldest first; each is deleted once shipped
        self.store_ok = True
        self.store_reason: str | None = None
        self.inflight_since: float | None = None  # monotonic start of the store call in progress
        self._wake = threading.Event()  # set by an append that fills a batch
        self._alarm = threading.Event()  # set by stop
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._abandoned = False
        self._hurry = False
        self._thread: threading.Thread | None = None
        self._next_adopt = 0.0
        self._next_retry = 0.0
        self._last_ship = 0.0
        self._last_contact = time.monotonic()

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def sources(self) -> list[LogDir]:
        return [*self.adopted, self.own]

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.sources)

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.adopt()
        self._thread = threading.Thread(target=self._run, name="mlmon-log-shipper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def hurry(self) -> None:
        """Ship what is there now instead of waiting for a full batch (until the log is empty)."""
        self._hurry = True
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Ship what can be shipped within ``timeout`` seconds, then stop. False when the thread is stuck in
        a store call (it is abandoned: it touches no file after that)."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        self._alarm.set()
        if self._thread is None:
            return True
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            self._abandoned = True
            return False
        return True

    # -- the loop ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._abandoned:
            try:
                if not self._step():
                    return
            except Exception:  # the shipper must never die; the events stay in the log
                log.exception("inference log shipper: unexpected error; retrying in %.1fs", self.retry_interval_s)
                self._sleep(self.retry_interval_s, wake_on_append=False)

    def _step(self) -> bool:
        """One round; False when the shipper is done."""
        now = time.monotonic()
        stopping = self._stopping.is_set()
        for done in [s for s in self.adopted if s.pending <= 0]:
            self._finish(done)
        if stopping and (self.pending == 0 or now >= self._deadline):
            return False
        if not stopping and now >= self._next_adopt:
            self.adopt()
        if not self.store_ok and now < self._next_retry:
            self._sleep(min(self._next_retry, self._deadline) - now, wake_on_append=False)
            return True
        source = self.adopted[0] if self.adopted else self.own
        if source.pending <= 0:
            self._idle(now)
            return True
        waited = now - self._last_ship
        batching = source is self.own and source.pending < self.bulk_size and not (stopping or self._hurry)
        if batching and waited < self.flush_interval_s:
            self._sleep(self.flush_interval_s - waited, wake_on_append=True)
            return True
        self._last_ship = now
        self.ship(source)
        return True

    def _sleep(self, seconds: float, *, wake_on_append: bool) -> None:
        """Wait up to ``seconds``; an append that fills a batch cuts it short only if ``wake_on_append``
        (during an outage every append would), ``stop`` always does."""
        event = self._wake if wake_on_append else self._alarm
        if seconds > 0 and event.wait(seconds):
            event.clear()

    def _finish(self, source: LogDir) -> None:
        """An adopted directory with nothing left: delete it."""
        self.adopted.remove(source)
        source.remove()
        log.info("shipped every event of adopted log %s; removed it", source.name)

    def _idle(self, now: float) -> None:
        self._hurry = False
        self.own.seal_if_shipped(max(1, self.own.segment_bytes // 4))
        if now - self._last_contact >= self.retry_interval_s:
            self._probe()  # with no traffic, still notice an outage (or its end) so that /readyz tells the truth
        self._sleep(self.flush_interval_s, wake_on_append=True)

    # -- adoption ----------------------------------------------------------------------------------------------
    def adopt(self) -> None:
        self._next_adopt = time.monotonic() + self.adopt_interval_s
        skip = {self.own.name, *(s.name for s in self.adopted)}
        try:
            found = orphans(self.root, skip)
        except OSError:
            log.exception("cannot scan %s for log directories to adopt", self.root)
            return
        for path, fd in found:
            source = LogDir(path, fd)
            try:
                source.load()
            except OSError:
                log.exception("cannot read log directory %s; leaving it", path)
                source.release()
                continue
            if source.pending == 0:
                source.remove()
                log.info("removed log directory %s (nothing left to ship)", path.name)
                continue
            log.info("adopted log directory %s: %d event(s), %d bytes to ship", path.name, source.pending, source.bytes)
            self.adopted.append(source)
            if not self.store_ok:
                self.outcomes.add("spooled", source.pending)

    # -- shipping ------------------------------------------------------------------------------------------------
    def ship(self, source: LogDir) -> None:
        """Ship one batch of ``source`` (or as much of it as the store takes)."""
        records = source.read(self.bulk_size)
        if not records:
            return
        self.inflight_since = time.monotonic()
        try:
            delivery = self.deliverer.deliver(source.name, [None if r.torn else r.line for r in records])
        finally:
            self.inflight_since = None
        if delivery.stored:
            self.outcomes.add("stored", delivery.stored)
        if delivery.outage is not None:
            self._mark_down(delivery.outage)
        elif delivery.reached:
            self._mark_up()
        if delivery.handled == 0:
            return
        if delivery.letters:
            self.dead_letters.write(delivery.letters)
            self.outcomes.add("dead_lettered", len(delivery.letters))
        if self._abandoned:
            return
        end: Position = records[delivery.handled - 1].end
        source.advance(end, delivery.handled)

    # -- store state ------------------------------------------------------------------------------------------
    def _ping(self) -> bool:
        self.inflight_since = time.monotonic()
        try:
            return self.deliverer.ping()
        finally:
            self.inflight_since = None

    def _probe(self) -> None:
        if self._ping():
            self._mark_up()
        else:
            self._mark_down("store ping failed")

    def _mark_up(self) -> None:
        self._last_contact = time.monotonic()
        if not self.store_ok:
            log.info("inference store is reachable again; shipping %d waiting event(s)", self.pending)
        self.store_ok = True
        self.store_reason = None

    def _mark_down(self, reason: str) -> None:
        self.outcomes.backend_error()
        now = time.monotonic()
        self._last_contact = now
        self._next_retry = now + self.retry_interval_s
        self.store_reason = short(reason)
        if self.store_ok:
            self.store_ok = False
            waiting = self.pending
            log.warning("inference store unavailable (%s); %d event(s) wait in the local log", reason, waiting)
            self.outcomes.add("spooled", waiting)
