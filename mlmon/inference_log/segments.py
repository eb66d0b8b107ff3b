"""A directory of the local inference log, as the shipper reads it: segments, a checkpoint, a lock.

Layout of one process's log (``<root>/<name>/``)::

    LOCK                  flock'ed by the process that owns the directory, for as long as it runs
    000000000001.jsonl    segments, one event per line (``codec``), appended in sequence order
    000000000002.jsonl
    checkpoint.json       {"segment": 2, "offset": 8192}: everything before this position is shipped

The checkpoint is replaced atomically (write + rename) after every shipped batch but never fsynced: after
a machine crash it may be older than the truth, and the events after it are shipped again — harmless,
since the store writes idempotently by ``prediction_id``. Fully shipped segments are deleted.

``LogDir`` is the read side, used as is for a log adopted from a dead process (every segment sealed; a last
line without its newline is a torn write) and extended by ``LocalLog`` for the log a process appends to.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
LOCK_NAME = "LOCK"
CHECKPOINT_NAME = "checkpoint.json"
READ_CHUNK = 1 << 20
MARK_EVERY_S = 1.0  # resolution of the "oldest unshipped event" age


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass
class Segment:
    seq: int
    path: Path
    size: int  # bytes of complete lines the shipper may read (the file may be longer while being written)
    sealed: bool  # no more appends: past ``size`` comes the next segment


@dataclass(frozen=True)
class Record:
    """One line read from the log: the event text (no newline), where the next line starts, and whether
    it is a torn write (the end of a sealed segment with no newline: a crash in the middle of a write)."""

    line: bytes
    end: Position
    torn: bool = False


def segment_name(seq: int) -> str:
    return f"{seq:012d}{SUFFIX}"


def seq_of(path: Path) -> int | None:
    stem = path.name.removesuffix(SUFFIX)
    return int(stem) if path.name.endswith(SUFFIX) and stem.isdigit() else None


def fsync_dir(directory: Path) -> None:
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


class LogDir:
    """Segments of one log directory and the shipper's position in them.

    ``pending`` counts the events not shipped yet; ``bytes`` the size of the segments on disk. Both, and the
    segment list, change under ``_lock`` (the appending side of ``LocalLog`` shares it)."""

    def __init__(self, directory: Path, lock_fd: int | None) -> None:
        self.directory = Path(directory)
        self.name = self.directory.name
        self._lock_fd = lock_fd
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._reader: tuple[int, IO[bytes]] | None = None
        self._marks: deque[tuple[Position, float]] = deque()  # (position, wall time of an append there)
        self.bytes = 0
        self.pending = 0
        self.position = Position(0, 0)

    # -- opening an existing directory -----------------------------------------------------------------
    def load(self) -> None:
        """Find the segments and the checkpoint of a directory written by another (dead) process; count the
        events left to ship. Segments before the checkpoint are deleted."""
        found = sorted((s, p) for p in self.directory.iterdir() if (s := seq_of(p)) is not None and p.is_file())
        checkpoint = self._read_checkpoint()
        for seq, path in found:
            if checkpoint is not None and seq < checkpoint.segment:
                path.unlink(missing_ok=True)
                continue
            size = path.stat().st_size
            self._segments.append(Segment(seq, path, size, sealed=True))
            self.bytes += size
        if not self._segments:
            self.position = checkpoint or Position(0, 0)
            return
        first = self._segments[0]
        if checkpoint is not None and checkpoint.segment == first.seq:
            self.position = Position(first.seq, min(checkpoint.offset, first.size))
        else:
            self.position = Position(first.seq, 0)
        self.pending = self._count_lines()
        self._marks.append((self.position, _mtime(first.path)))

    def _read_checkpoint(self) -> Position | None:
        path = self.directory / CHECKPOINT_NAME
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return Position(int(doc["segment"]), int(doc["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("checkpoint %s is unreadable (%s); shipping %s from its start", path, exc, self.name)
            return None

    def _count_lines(self) -> int:
        count = 0
        for segment in self._segments:
            start = self.position.offset if segment.seq == self.position.segment else 0
            with open(segment.path, "rb") as handle:
                handle.seek(start)
                tail = b""
                while chunk := handle.read(READ_CHUNK):
                    count += chunk.count(b"\n")
                    tail = chunk
                if tail and not tail.endswith(b"\n"):
                    count += 1  # a torn last line is still a record (dead-lettered as torn)
        return count

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def read(self, max_events: int) -> list[Record]:
        """Up to ``max_events`` records from the position on, from one segment. Does not move the position
        (``advance`` does, once the records are handled)."""
        with self._lock:
            segment = self._segment_at()
            if segment is None:
                return []
            start, end, sealed = self.position.offset, segment.size, segment.sealed
        if start >= end:
            return []
        handle = self._open_reader(segment)
        records: list[Record] = []
        offset = start
        chunk_size = min(READ_CHUNK, max(64 * 1024, max_events * 1024))
        while offset < end and len(records) < max_events:
            handle.seek(offset)
            data = handle.read(min(chunk_size, end - offset))
            if not data:
                break
            cut = data.rfind(b"\n")
            if cut < 0:
                if offset + len(data) < end:
                    chunk_size *= 2  # a line longer than the chunk
                    continue
                if sealed:
                    records.append(Record(data, Position(segment.seq, offset + len(data)), torn=True))
                break
            lines = data[: cut + 1].split(b"\n")[:-1]
            for line in lines:
                offset += len(line) + 1
                records.append(Record(line, Position(segment.seq, offset)))
                if len(records) >= max_events:
                    break
        return records

    def _segment_at(self) -> Segment | None:
        """The segment holding the position (under ``_lock``); deletes the sealed segments wholly shipped
        and moves the position to the start of the next one."""
        while self._segments:
            first = self._segments[0]
            if first.seq < self.position.segment:
                self._remove_first()
                continue
            if first.seq > self.position.segment:
                self.position = Position(first.seq, 0)
            if first.sealed and self.position.offset >= first.size:
                self._remove_first()
                if self._segments:
                    self.position = Position(self._segments[0].seq, 0)
                continue
            return first
        return None

    def _open_reader(self, segment: Segment) -> IO[bytes]:
        if self._reader is not None and self._reader[0] == segment.seq:
            return self._reader[1]
        self._close_reader()
        handle = open(segment.path, "rb", buffering=0)  # noqa: SIM115 - cached until the shipper moves on
        self._reader = (segment.seq, handle)
        return handle

    def _close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(OSError):
                self._reader[1].close()
            self._reader = None

    def _remove_first(self) -> None:
        segment = self._segments.pop(0)
        if self._reader is not None and self._reader[0] == segment.seq:
            self._close_reader()
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            log.exception("cannot delete shipped segment %s", segment.path)
        self.bytes = max(0, self.bytes - segment.size)
        self._removed()

    def _removed(self) -> None:
        """Hook for ``LocalLog``: bytes went down."""

    # -- progress ------------------------------------------------------------------------------------------
    def advance(self, position: Position, events: int) -> None:
        """The records up to ``position`` are handled (stored or dead-lettered): remember it on disk and
        delete the segments that are wholly before it."""
        with self._lock:
            self.position = position
            self.pending = max(0, self.pending - events)
            while len(self._marks) > 1 and self._marks[1][0] <= position:
                self._marks.popleft()
            self._segment_at()
        self._write_checkpoint(position)

    def _write_checkpoint(self, position: Position) -> None:
        path = self.directory / CHECKPOINT_NAME
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"segment": position.segment, "offset": position.offset}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            log.exception("cannot write the checkpoint of %s; events may be shipped twice (harmless)", self.name)

    def oldest_unshipped_age(self, now: float | None = None) -> float:
        """Seconds since the oldest event not shipped yet was appended (0 when none; ~1 s resolution)."""
        if self.pending <= 0:
            return 0.0
        with self._lock:
            if not self._marks:
                return 0.0
            since = self._marks[0][1]
        return max(0.0, (now if now is not None else time.time()) - since)

    # -- end of life -----------------------------------------------------------------------------------------
    def release(self) -> None:
        """Give the directory up (the next process may adopt it): close files, drop the lock."""
        self._close_reader()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        """Delete the directory (every event shipped): segments, checkpoint, then the lock, then the folder."""
        self._close_reader()
        for path in self.directory.iterdir():
            if path.name != LOCK_NAME:
                path.unlink(missing_ok=True)
        (self.directory / LOCK_NAME).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()
        self.release()
        self._segments.clear()
        self.bytes = 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()
