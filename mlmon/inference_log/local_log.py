"""The log a process appends to before it acknowledges a prediction: segment files, group commit, a bound.

``append`` writes the lines of one request with a single ``write(2)`` under a lock, so they are in the kernel's
page cache — and survive a crash (even ``kill -9``) of the process — when it returns. What survives a crash of
the machine depends on ``fsync``:

- ``always``: ``append`` returns only once the lines are on disk (``fdatasync``). Concurrent requests share
  one ``fdatasync`` (group commit): a request whose lines were written before a sync started is covered by it.
- ``interval``: a background thread syncs every ``fsync_interval_s``: a machine crash loses at most that much.
- ``never``: the kernel writes the pages back on its own schedule (about 30 s on Linux).

A full log (``max_bytes``, counting every segment not yet deleted) refuses the append with
``InferenceLogFull``; a write error (disk full, I/O error) refuses it with ``InferenceLogUnavailable`` and
leaves no partial line behind (the segment is truncated back, or sealed at its last complete line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Literal

from mlmon.errors import InferenceLogFull, InferenceLogUnavailable
from mlmon.inference_log.segments import MARK_EVERY_S, LogDir, Position, Segment, fsync_dir, segment_name

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "interval", "never")
LOW_WATER = 0.9  # a full log takes events again (and reports ready) once below this share of max_bytes


class LocalLog(LogDir):
    def __init__(
        self,
        directory: Path,
        lock_fd: int | None,
        *,
        max_bytes: int,
        segment_bytes: int,
        fsync: FsyncPolicy = "interval",
    ) -> None:
        super().__init__(directory, lock_fd)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"unknown fsync policy {fsync!r}: use {', '.join(FSYNC_POLICIES)}")
        self.max_bytes = max_bytes
        self.segment_bytes = max(1, min(segment_bytes, max_bytes // 8 or 1))
        self.fsync = fsync
        self.full = False  # an append was refused for lack of room; cleared below LOW_WATER
        self.write_error: str | None = None  # the last write failure, until a write succeeds
        self.appended_events = 0
        self._fd: int | None = None
        self._active: Segment | None = None
        self._next_seq = 1
        self._closed = False
        self._written = 0  # bytes written since start (all segments): the group-commit clock
        self._synced = 0
        self._sync_lock = threading.Lock()

    # -- appending ---------------------------------------------------------------------------------------
    def append(self, data: bytes, events: int) -> None:
        """Append complete lines (``data`` ends in a newline) holding ``events`` events; durable per the
        fsync policy when it returns. Raises ``InferenceLogFull`` or ``InferenceLogUnavailable``."""
        if not data:
            return
        with self._lock:
            if self._closed:
                raise InferenceLogUnavailable("the inference log is closed (the server is shutting down)")
            if len(data) > self.max_bytes:
                raise InferenceLogFull(
                    f"the events of this request ({len(data)} bytes) exceed the inference log's limit "
                    f"({self.max_bytes} bytes)",
                    hint="raise MLMON_LOG_MAX_BYTES or send smaller batches",
                )
            if self.bytes + len(data) > self.max_bytes:
                self.full = True
                raise InferenceLogFull(
                    f"the local inference log is full ({self.bytes} of {self.max_bytes} bytes waiting for the store)",
                    hint="the store has not taken events for a while; see /readyz",
                )
            try:
                segment = self._segment_for(len(data))
                self._write_all(segment, data)
            except OSError as exc:
                self.write_error = f"{exc.__class__.__name__}: {exc}"
                log.error("inference log write to %s failed: %s", self.directory, exc)
                raise InferenceLogUnavailable(f"the local inference log cannot be written: {exc}") from None
            self.write_error = None
            segment.size += len(data)
            self.bytes += len(data)
            self.pending += events
            self.appended_events += events
            self._written += len(data)
            written = self._written
            now = time.time()
            if self.pending == events:
                self._marks.clear()  # the log was empty: older marks tell nothing about these events
            if not self._marks or now - self._marks[-1][1] >= MARK_EVERY_S:
                self._marks.append((Position(segment.seq, segment.size - len(data)), now))
        if self.fsync == "always":
            self.sync(written)

    def _segment_for(self, size: int) -> Segment:
        active = self._active
        if active is None or (active.size > 0 and active.size + size > self.segment_bytes):
            self._rotate()
            active = self._active
        assert active is not None
        return active

    def _write_all(self, segment: Segment, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except OSError:
            if done:
                try:
                    os.ftruncate(self._fd, segment.size)  # no half line may prefix the next append
                except OSError:
                    self._seal_active()  # readers stop at the last complete line; appends go elsewhere
            raise

    def _rotate(self) -> None:
        """Seal the active segment (synced unless ``never``) and open the next one (under ``_lock``)."""
        self._seal_active()
        segment = Segment(self._next_seq, self.directory / segment_name(self._next_seq), 0, sealed=False)
        fd = os.open(segment.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._next_seq += 1
        self._fd = fd
        self._active = segment
        self._segments.append(segment)
        if self.fsync != "never":
            fsync_dir(self.directory)  # the new file's name survives a machine crash too

    def _seal_active(self, sync: bool | None = None) -> None:
        if self._fd is not None:
            if sync if sync is not None else self.fsync != "never":
                with contextlib.suppress(OSError):
                    os.fdatasync(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._active is not None:
            self._active.sealed = True
            self._active = None

    # -- durability ----------------------------------------------------------------------------------------
    def sync(self, upto: int | None = None) -> None:
        """Make every byte written up to ``upto`` (default: now) durable. One caller syncs for all those
        waiting (group commit); sealed segments were synced when they were sealed."""
        with self._sync_lock:
            with self._lock:
                target = self._written
                if (upto if upto is not None else target) <= self._synced:
                    return
                if self._fd is None:  # every segment is sealed, and was synced when it was
                    self._synced = target
                    return
                fd = os.dup(self._fd)  # rotation may close the original while we sync
            try:
                os.fdatasync(fd)
            except OSError as exc:
                log.error("fdatasync of the inference log failed: %s", exc)
                raise InferenceLogUnavailable(f"the local inference log cannot be synced: {exc}") from None
            finally:
                os.close(fd)
            self._synced = target

    @property
    def unsynced(self) -> bool:
        return self._written > self._synced

    # -- shipping side ---------------------------------------------------------------------------------------
    def _removed(self) -> None:
        if self.full and self.bytes <= LOW_WATER * self.max_bytes:
            self.full = False

    def seal_if_shipped(self, min_size: int) -> None:
        """Start a new segment when the active one (of at least ``min_size`` bytes) is wholly shipped, so
        that its bytes can be freed without waiting for it to fill."""
        with self._lock:
            active = self._active
            if active is not None and active.size >= min_size and self.position == Position(active.seq, active.size):
                self._seal_active()
                self._segment_at()  # deletes it

    def close(self) -> None:
        """No more appends; the active segment is synced and closed (the directory stays locked)."""
        with self._lock:
            self._closed = True
            self._seal_active(sync=True)  # a clean shutdown leaves everything on disk, whatever the policy
            self._synced = self._written
