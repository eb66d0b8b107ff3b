"""SQLite-specific behaviour: the reports table keeps the record's indexed summary, old files are migrated."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mlmon.store.base import ReportRecord
from mlmon.store.sqlite import SQLiteStore
from tests.contract.conftest import MIDNIGHT, SPEC


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
