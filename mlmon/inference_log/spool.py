"""On-disk spool for inference events the store could not take.

Append-only segment files ``<seq>.jsonl`` (one ``InferenceEvent.to_doc()`` per line) in one folder, fsynced
once per appended batch. Segments are replayed in sequence order and deleted once the store holds them.

- Size limit: an append that would push the spool over ``max_bytes`` drops the events that do not fit and
  reports how many (the writer counts them as ``dropped``); nothing is silently lost.
- Restart: a new ``Spool`` on the same folder finds the old segments and never appends to them (the last
  one may end in a torn line after a crash); it starts a new segment with the next sequence number.
- A torn or corrupt line is skipped and logged, never fatal.

Thread-safe: request threads append directly when the in-memory queue is full.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlmon.store.base import InferenceEvent

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024


@dataclass
class AppendResult:
    spooled: int = 0
    dropped: int = 0


@dataclass
class Segment:
    path: Path
    seq: int


def _seq_of(path: Path) -> int | None:
    stem = path.name.removesuffix(SUFFIX)
    return int(stem) if path.name.endswith(SUFFIX) and stem.isdigit() else None


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(1, min(segment_bytes, max_bytes))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._sealed: list[Segment] = []
        self._size = 0
        for path in self.directory.iterdir():
            seq = _seq_of(path)
            if seq is not None and path.is_file():
                self._sealed.append(Segment(path, seq))
                self._size += path.stat().st_size
        self._sealed.sort(key=lambda s: s.seq)
        self._next_seq = (self._sealed[-1].seq + 1) if self._sealed else 1
        self._active: Segment | None = None
        self._active_file: IO[bytes] | None = None
        self._active_bytes = 0
        self.healthy = True  # False after a failed disk write, until the next one succeeds
        if self._sealed:
            log.info(
                "spool %s holds %d segment(s), %d bytes from an earlier run",
                self.directory,
                len(self._sealed),
                self._size,
            )

    # -- state ---------------------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return self._size

    def is_empty(self) -> bool:
        with self._lock:
            return not self._sealed and self._active_bytes == 0

    # -- writing -------------------------------------------------------------------------------------
    def append(self, events: Sequence[InferenceEvent]) -> AppendResult:
        """Append events in order; those past the size limit are dropped (reported, not raised)."""
        result = AppendResult()
        if not events:
            return result
        lines = [(json.dumps(e.to_doc(), separators=(",", ":"), allow_nan=False) + "\n").encode() for e in events]
        with self._lock:
            batch: list[bytes] = []
            batch_bytes = 0
            for line in lines:
                if self._size + batch_bytes + len(line) > self.max_bytes:
                    result.dropped += 1
                    continue
                batch.append(line)
                batch_bytes += len(line)
            if batch:
                try:
                    self._write(batch, batch_bytes)
                    result.spooled = len(batch)
                    self.healthy = True
                except OSError:
                    log.exception("spool write to %s failed; %d event(s) dropped", self.directory, len(batch))
                    self.healthy = False
                    self._close_active()  # a half-written line must not prefix the next append
                    result.dropped += len(batch)
        if result.dropped:
            log.warning("spool full (%d bytes limit): %d event(s) dropped", self.max_bytes, result.dropped)
        return result

    def _write(self, batch: list[bytes], batch_bytes: int) -> None:
        if self._active_file is None or self._active_bytes >= self.segment_bytes:
            self._rotate()
        assert self._active_file is not None
        before = self._active_bytes
        self._active_bytes += batch_bytes  # counted first: a partial write still occupies disk
        self._size += batch_bytes
        self._active_file.write(b"".join(batch))
        self._active_file.flush()
        os.fsync(self._active_file.fileno())
        if before == 0:
            _fsync_dir(self.directory)  # the new segment's directory entry survives a crash too

    def _rotate(self) -> None:
        self._close_active()
        segment = Segment(self.directory / f"{self._next_seq:012d}{SUFFIX}", self._next_seq)
        self._next_seq += 1
        self._active = segment
        self._active_file = open(segment.path, "ab")  # noqa: SIM115 - kept open across appends
        self._active_bytes = 0

    def _close_active(self) -> None:
        if self._active_file is not None:
            try:
                self._active_file.close()
            except OSError:
                log.exception("closing spool segment failed")
        if self._active is not None and self._active_bytes > 0:
            self._sealed.append(self._active)
        elif self._active is not None:
            self._active.path.unlink(missing_ok=True)
        self._active = None
        self._active_file = None
        self._active_bytes = 0

    def seal(self) -> list[Segment]:
        """Close the segment being appended (new appends start another) and list all closed segments."""
        with self._lock:
            if self._active is not None and self._active_bytes > 0:
                self._close_active()
            return list(self._sealed)

    def close(self) -> None:
        with self._lock:
            self._close_active()

    # -- replay --------------------------------------------------------------------------------------
    def read(self, segment: Segment) -> list[InferenceEvent]:
        """Events of a closed segment in order; torn or corrupt lines are skipped and logged."""
        try:
            data = segment.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        tail = lines.pop()  # text after the last newline: empty unless the last write was torn
        if tail:
            log.warning("spool segment %s ends in a torn line (%d bytes); skipped", segment.path.name, len(tail))
        events: list[InferenceEvent] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(InferenceEvent.from_doc(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("spool segment %s line %d is corrupt (%s); skipped", segment.path.name, number, exc)
        return events

    def remove(self, segment: Segment) -> None:
        """Forget a segment whose events the store now holds."""
        with self._lock:
            try:
                size = segment.path.stat().st_size
                segment.path.unlink()
            except FileNotFoundError:
                size = 0
            self._size = max(0, self._size - size)
            self._sealed = [s for s in self._sealed if s.seq != segment.seq]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
