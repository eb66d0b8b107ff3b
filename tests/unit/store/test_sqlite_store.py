"""SQLite-specific behaviour: the reports table keeps the record's indexed summary; older files get new columns."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

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
