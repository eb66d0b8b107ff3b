"""Store retention as a statistics-service chore: ``apply_retention`` at most once per interval (default an
hour; the first run of a process included, the schedule lives in memory). Retention is housekeeping, so a
failure is counted in ``mlmon_backend_errors_total{backend}``, logged and noted, and never fails the run; the
next attempt comes one interval later, not at every run against a store that is struggling."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from mlmon.errors import StoreUnavailable
from mlmon.jobs import JobHealth
from mlmon.store.base import InferenceStore, RetentionResult

log = logging.getLogger(__name__)


@dataclass
class RetentionSchedule:
    every_s: float = 3600.0
    last_at: float | None = None  # epoch seconds of the last attempt (successful or not)

    def due(self, at: datetime) -> bool:
        if self.last_at is None:
            return True
        elapsed = at.timestamp() - self.last_at
        return elapsed < 0 or elapsed >= self.every_s  # a clock that went back runs it rather than stalling

    def run(self, store: InferenceStore, health: JobHealth, at: datetime) -> tuple[RetentionResult | None, str | None]:
        """(what was deleted, or None when not due or failed; a note for the run's report, or None)."""
        if not self.due(at):
            return None, None
        self.last_at = at.timestamp()
        backend = store.backend
        try:
            result = store.apply_retention(at)
        except StoreUnavailable as exc:
            health.backend_error(backend)
            log.warning("retention not applied on the %s store (next try in %.0fs): %s", backend, self.every_s, exc)
            return None, f"retention not applied: {exc}"
        except Exception as exc:  # an unexpected error too: logged with its traceback, the run goes on
            health.backend_error(backend)
            log.exception("retention failed on the %s store (next try in %.0fs)", backend, self.every_s)
            return None, f"retention not applied: {type(exc).__name__}: {exc}"
        if result.events_deleted or result.indices_deleted:
            log.info(
                "retention: %d inference event(s) before %s deleted from the %s store%s",
                result.events_deleted,
                result.cutoff.isoformat() if result.cutoff else "?",
                backend,
                f" ({len(result.indices_deleted)} daily indices)" if result.indices_deleted else "",
            )
        return result, None
