"""Retention as run by the statistics service, on a real SQLite store: at most once per interval (the first
run included), old rows deleted and recent ones kept, a failing store counted and never raised."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlmon.jobs import JobHealth, JobHealthCollector
from mlmon.store.base import TimeWindow
from mlmon.store.sqlite import SQLiteStore
from stats_service.retention import RetentionSchedule
from tests.contract.conftest import SPEC, make_events

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
EVERYTHING = TimeWindow(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "r.db", SPEC, retention_days=30)
    s.ensure_schema()
    yield s
    s.close()


def _write_old(store: SQLiteStore, prefix: str, n: int = 20) -> None:
    old = make_events(n, seed=1, start=NOW - timedelta(days=45), span_s=3600)
    assert store.write_events([replace(e, prediction_id=f"{prefix}{i}") for i, e in enumerate(old)]).stored == n


def _ids(store: SQLiteStore) -> set[str]:
    return set(store.read_window(EVERYTHING, fields=[])["prediction_id"])


def test_runs_on_the_first_call_then_at_most_once_per_interval(store: SQLiteStore) -> None:
    recent = [
        replace(e, prediction_id=f"new{i}")
        for i, e in enumerate(make_events(30, seed=2, start=NOW - timedelta(days=29, hours=12), span_s=86_400))
    ]
    store.write_events(recent)
    _write_old(store, "old")
    health = JobHealth(job="stats", model=SPEC.model, interval_s=60)
    schedule = RetentionSchedule(every_s=3600)

    result, note = schedule.run(store, health, NOW)
    assert note is None and result is not None
    assert result.events_deleted == 20 and result.cutoff == datetime(2026, 5, 11, tzinfo=UTC)
    assert _ids(store) == {e.prediction_id for e in recent}  # 29.5 days old is kept

    _write_old(store, "again")
    for later in (NOW + timedelta(minutes=1), NOW + timedelta(minutes=59, seconds=59)):
        assert schedule.run(store, health, later) == (None, None)  # not due: the old rows stay
    assert len(_ids(store)) == 50
    result, _ = schedule.run(store, health, NOW + timedelta(hours=1))
    assert result is not None and result.events_deleted == 20 and len(_ids(store)) == 30
    assert health.backend_errors == {}


def test_a_locked_store_is_counted_not_raised_and_retried_an_hour_later(tmp_path: Path) -> None:
    # fail fast on the lock instead of waiting the default 10 s
    store = SQLiteStore(tmp_path / "locked.db", SPEC, retention_days=30, busy_timeout_ms=50)
    _write_old(store, "old")
    registry = CollectorRegistry()
    health = JobHealth(job="stats", model=SPEC.model, interval_s=60)
    registry.register(JobHealthCollector(health))
    schedule = RetentionSchedule()
    # Another process holds the write lock (a long write); reads go on in WAL mode, the DELETE cannot.
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        result, note = schedule.run(store, health, NOW)
        assert result is None and note is not None and "locked" in note
        assert store.count(EVERYTHING) == 20  # the store still reads
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    errors = registry.get_sample_value(
        "mlmon_backend_errors_total", {"model": SPEC.model, "model_version": "unknown", "backend": "sqlite"}
    )
    assert errors == 1
    assert schedule.run(store, health, NOW + timedelta(minutes=5)) == (None, None)  # not hammered
    result, note = schedule.run(store, health, NOW + timedelta(hours=1, minutes=1))
    assert note is None and result is not None and result.events_deleted == 20
    store.close()


def test_a_clock_that_went_back_does_not_stall_it() -> None:
    schedule = RetentionSchedule(every_s=3600, last_at=NOW.timestamp())
    assert not schedule.due(NOW + timedelta(minutes=30))
    assert schedule.due(NOW - timedelta(days=1))
    assert schedule.due(NOW + timedelta(hours=1))
