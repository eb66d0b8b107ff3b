"""SQLite-specific behaviour: the reports table keeps the record's indexed summary; older files get new columns."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from mlmon.errors import StoreUnavailable
from mlmon.store.base import ReportRecord, TimeWindow
from mlmon.store.fields import DocField
from mlmon.store.sqlite import SQLiteStore
from tests.contract.conftest import MIDNIGHT, SPEC, make_events


def test_report_summary_columns(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with sqlite3.connect(db) as conn:  # a reports table from before the summary columns existed
        conn.execute(
            'CREATE TABLE "reports_contract-model" (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,'
            " ts INTEGER NOT NULL, body TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO \"reports_contract-model\" (kind, ts, body) VALUES ('stats', 1, '{\"old\": 1}')")
    store = SQLiteStore(db, SPEC)
    record = ReportRecord(
        kind="stats", timestamp=MIDNIGHT, body={"new": 2}, model_version="v3", status="ok", summary="s", findings=["f"]
    )
    store.write_report(record)
    assert store.latest_reports("stats") == [{"new": 2}, {"old": 1}]
    store.close()
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            'SELECT model_version, status, summary, drift_detected, findings FROM "reports_contract-model" '
            "WHERE model_version IS NOT NULL"
        ).fetchone()
    assert row[:4] == ("v3", "ok", "s", None) and json.loads(row[4]) == ["f"]


def test_received_at_column_is_added_to_an_older_file(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = make_events(3)
    first = SQLiteStore(db, SPEC)
    assert first.write_events(old).stored == 3
    first.close()
    with sqlite3.connect(db) as conn:  # the events table as it was before received_at existed
        conn.execute('ALTER TABLE "events_contract-model" DROP COLUMN received_at')
    store = SQLiteStore(db, SPEC)
    new = [replace(e, prediction_id=f"new{i}", received_at=e.timestamp) for i, e in enumerate(make_events(2))]
    assert store.write_events(new).stored == 2
    frame = store.read_window(TimeWindow(MIDNIGHT - timedelta(days=1), MIDNIGHT + timedelta(days=1)), fields=[])
    received = frame.set_index("prediction_id")[DocField.RECEIVED_AT]
    assert received[[e.prediction_id for e in old]].isna().all()  # old rows: unknown
    assert [received[e.prediction_id] for e in new] == [e.timestamp for e in new]
    store.close()


def test_rows_sqlite_refuses_are_isolated_and_rejected(tmp_path: Path) -> None:
    """A per-row data error from SQLite itself (here a constraint a trigger enforces) rejects that row with
    SQLite's reason; the rest of the batch is stored, in one transaction."""
    db = tmp_path / "t.db"
    store = SQLiteStore(db, SPEC)
    store.ensure_schema()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON \"events_contract-model\" WHEN NEW.prediction_id LIKE '%7' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
        )
    events = make_events(40)
    first = store.write_events(events[:20])
    refused = sorted(e.prediction_id for e in events[:20] if e.prediction_id.endswith("7"))
    assert sorted(pid for pid, _ in first.rejected) == refused == ["p00007", "p00017"]
    assert all("IntegrityError: refused by a constraint" in reason for _, reason in first.rejected)
    assert (first.stored, first.duplicates) == (18, 0)
    again = store.write_events(events)  # a replay with more: duplicates, new rows, and the refused ones again
    assert (again.stored, again.duplicates, len(again.rejected)) == (20 - 2, 18, 4)
    everything = TimeWindow(MIDNIGHT - timedelta(days=1), MIDNIGHT + timedelta(days=1))
    assert store.count(everything) == 36
    store.close()


def test_a_locked_file_is_unavailable_not_a_rejection(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    store = SQLiteStore(db, SPEC, busy_timeout_ms=50)
    store.ensure_schema()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.write_events(make_events(5))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.write_events(make_events(5)).stored == 5  # and the same batch goes in once the lock is gone
    store.close()
