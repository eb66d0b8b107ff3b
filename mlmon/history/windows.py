"""Time ranges given on the command line (``--start/--end``) and the consecutive windows a backtest runs over.

Times are ISO 8601 (``2025-03-01``, ``2025-03-01T06:00``, ``2025-03-01T06:00:00+01:00``); a time without an
offset is UTC. A bad range is one line naming the option: unparseable, end not after start, a window longer than
the range, or more windows than ``MAX_WINDOWS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlmon.errors import ConfigError
from mlmon.settings import parse_duration
from mlmon.store.base import TimeWindow

MAX_WINDOWS = 10_000
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_time(text: str, option: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not an ISO 8601 time (e.g. 2025-03-01 or 2025-03-01T06:00Z)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_range(start: str | None, end: str | None) -> TimeWindow:
    """``--start``/``--end`` → a window; both are needed."""
    if start is None or end is None:
        raise ConfigError("--start and --end go together: give both (ISO 8601 times)")
    begin, finish = parse_time(start, "--start"), parse_time(end, "--end")
    if finish <= begin:
        raise ConfigError(f"--end {finish.isoformat()} is not after --start {begin.isoformat()}")
    return TimeWindow(begin, finish)


def duration_name(seconds: float) -> str:
    """The shortest Prometheus-style name of a whole number of seconds (``86400`` → ``1d``)."""
    whole = round(seconds)
    if whole <= 0 or abs(whole - seconds) > 1e-9:
        raise ConfigError(f"a window of {seconds:g} s: windows are whole seconds")
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds is a number of seconds")


@dataclass(frozen=True)
class WindowPlan:
    """Consecutive windows ``[start + k·w, start + (k+1)·w)`` that fit in the range; the rest is not covered."""

    span: TimeWindow
    step_s: float
    windows: tuple[TimeWindow, ...]

    @property
    def name(self) -> str:
        return duration_name(self.step_s)

    @property
    def uncovered_s(self) -> float:
        return (self.span.end - self.windows[-1].end).total_seconds() if self.windows else self.span.seconds

    @classmethod
    def of(cls, span: TimeWindow, window: str) -> WindowPlan:
        try:
            step = parse_duration(window)
        except ValueError as exc:
            raise ConfigError(f"--window: {exc}") from None
        duration_name(step)
        count = int(span.seconds // step)
        if count < 1:
            raise ConfigError(f"--window {window} is longer than the range ({duration_name(span.seconds)})")
        if count > MAX_WINDOWS:
            raise ConfigError(
                f"{count} windows of {window}: at most {MAX_WINDOWS}; lengthen --window or shorten the range"
            )
        delta = timedelta(seconds=step)
        windows = tuple(TimeWindow(span.start + k * delta, span.start + (k + 1) * delta) for k in range(count))
        return cls(span, step, windows)
