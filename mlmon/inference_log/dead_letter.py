"""The dead-letter file: events the store refused, one JSON line each, with the reason.

``<root>/dead-letter.jsonl`` (one per model, shared by the processes of that model: each batch is one
``O_APPEND`` write under an exclusive ``flock``, then fsynced — the shipper moves past a refused event only once
its dead letter is on disk). A line::

    {"at": "2026-01-15T10:00:00.123Z", "reason": "features.x: expected a number, got str",
     "prediction_id": "6f1c…", "log": "p4242-1a2b3c4d", "event": {…the event as logged…}}

A line of the local log that is not an event at all (corrupt, or torn by a machine crash) has ``"line"`` (its
text, cut at 4 KB) instead of ``"event"``. The file is bounded by ``max_bytes``: past it, dead letters are
still counted and logged but no longer written (a warning says so once).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "dead-letter.jsonl"
MAX_LINE_ECHO = 4096


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    log_name: str
    prediction_id: str | None = None
    event: dict[str, Any] | None = None
    line: bytes | None = None

    def to_json(self, at: str) -> str:
        doc: dict[str, Any] = {
            "at": at,
            "reason": self.reason,
            "prediction_id": self.prediction_id,
            "log": self.log_name,
        }
        if self.event is not None:
            doc["event"] = self.event
        if self.line is not None:
            doc["line"] = self.line[:MAX_LINE_ECHO].decode("utf-8", "backslashreplace")
        return json.dumps(doc, separators=(",", ":"), default=str)


class DeadLetterFile:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.written = 0  # dead letters written by this process
        self.skipped = 0  # dead letters not written: file over its limit, or a disk error
        self._warned = False

    def write(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        for letter in letters:
            log.warning(
                "dead-lettered event %s from %s: %s",
                letter.prediction_id or "(unreadable line)",
                letter.log_name,
                letter.reason,
            )
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        data = "".join(letter.to_json(at) + "\n" for letter in letters).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError:
            log.exception("cannot open the dead-letter file %s", self.path)
            self.skipped += len(letters)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size + len(data) > self.max_bytes:
                self.skipped += len(letters)
                if not self._warned:
                    self._warned = True
                    log.error(
                        "dead-letter file %s reached %d bytes; further dead letters are only logged",
                        self.path,
                        self.max_bytes,
                    )
                return
            view = memoryview(data)
            done = 0
            while done < len(data):
                done += os.write(fd, view[done:])
            os.fsync(fd)
            self.written += len(letters)
        except OSError:
            log.exception("cannot write the dead-letter file %s", self.path)
            self.skipped += len(letters)
        finally:
            os.close(fd)  # also drops the flock
