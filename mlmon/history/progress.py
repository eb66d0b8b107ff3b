"""Plain-text progress on stderr: one line at most every ``every_s`` seconds (rewritten in place on a terminal),
and a last one when the work ends."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    def __init__(
        self,
        what: str,
        total: int | None,
        *,
        unit: str = "rows",
        stream: TextIO | None = None,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._last: float | None = None
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            width = 24
            bar = "#" * round(share * width) + "." * (width - round(share * width))
            head = f"{self.what} [{bar}] {self.done:,}/{self.total:,} {self.unit} ({share:.0%})"
        else:
            head = f"{self.what} {self.done:,} {self.unit}"
        return f"{head}, {rate:,.0f} {self.unit}/s, {elapsed:.1f} s"

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if self._last is None or now - self._last >= self.every_s:
            self._last = now
            self._write(final=False)

    def finish(self) -> None:
        self._write(final=True)

    def _write(self, final: bool) -> None:
        text = self.line()
        if self._tty:
            self.stream.write(f"\r{text}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
