"""Event time on the HTTP edge: when the predicted thing happened, as the client says, within a bounded skew.

A request may carry ``event_time`` per instance (ISO 8601 with an offset, e.g. ``2026-11-28T09:15:00Z``). It is
stored as the event's ``timestamp`` (the time windows are cut on); the server's clock is kept as
``received_at``. Without it, the event time is the server's time. A time too far from the server's clock is
refused (422 naming the field): more than ``MLMON_EVENT_TIME_MAX_PAST_S`` before it (default one day — older
history is loaded with ``mlmon ingest``, not through the live path) or more than
``MLMON_EVENT_TIME_MAX_FUTURE_S`` after it (default five minutes of clock skew).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlmon.errors import InvalidInput

EVENT_TIME = "event_time"
DESCRIPTION = (
    "when the predicted event happened: ISO 8601 with a UTC offset (e.g. 2026-11-28T09:15:00Z); stored as the "
    "event time (windows are cut on it), the server's clock is kept as received_at; default: the server's time. "
    "At most MLMON_EVENT_TIME_MAX_PAST_S before and MLMON_EVENT_TIME_MAX_FUTURE_S after the server's clock."
)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class EventTimePolicy:
    """The accepted skew of a client's event time from the server's clock."""

    max_past_s: float = 86400.0
    max_future_s: float = 300.0

    def parse(self, value: Any, field: str, now: datetime) -> datetime:
        """An ISO 8601 string (or an aware ``datetime``) within the skew → a UTC datetime; else InvalidInput."""
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                raise InvalidInput(field, "not an ISO 8601 time, e.g. 2026-11-28T09:15:00Z") from None
        else:
            raise InvalidInput(field, f"must be an ISO 8601 time string, not {type(value).__name__}")
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidInput(field, "needs a UTC offset (e.g. Z or +01:00): a time without one is ambiguous")
        when = when.astimezone(UTC)
        if when < now - timedelta(seconds=self.max_past_s):
            raise InvalidInput(
                field,
                f"{when.isoformat()} is {_span(round((now - when).total_seconds()))} before the server's clock; at "
                f"most {_span(self.max_past_s)} is accepted (MLMON_EVENT_TIME_MAX_PAST_S; load history with "
                "`mlmon ingest`)",
            )
        if when > now + timedelta(seconds=self.max_future_s):
            raise InvalidInput(
                field,
                f"{when.isoformat()} is {_span(round((when - now).total_seconds()))} after the server's clock; at "
                f"most {_span(self.max_future_s)} is accepted (MLMON_EVENT_TIME_MAX_FUTURE_S)",
            )
        return when

    def parse_all(
        self, values: Sequence[Any] | None, count: int, field: str, now: datetime
    ) -> list[datetime | None] | None:
        """One optional event time per row (None: the server's time); None when no row has one."""
        if values is None:
            return None
        if len(values) != count:
            raise InvalidInput(field, f"{len(values)} event times for {count} rows")
        parsed = [None if v is None else self.parse(v, f"{field}[{i}]", now) for i, v in enumerate(values)]
        return parsed if any(p is not None for p in parsed) else None
