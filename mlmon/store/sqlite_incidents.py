"""The incident state in SQLite: one row per model in ``incidents_<model>`` (``id = 'state'``), replaced by
compare-and-set on an integer revision.

The caller runs each function inside a write transaction (``BEGIN IMMEDIATE``): SQLite then serialises every
writer of the file, so reading the revision and replacing the row cannot interleave with another process.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from mlmon.store.base import StateRecord
from mlmon.store.normalize import to_jsonable

STATE_ID = "state"


def create_table(conn: sqlite3.Connection, table: str) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, "
        "updated_at INTEGER NOT NULL, body TEXT NOT NULL)"
    )


def read(conn: sqlite3.Connection, table: str) -> StateRecord | None:
    row = conn.execute(f"SELECT body, revision FROM {table} WHERE id = ?", (STATE_ID,)).fetchone()
    if row is None:
        return None
    return StateRecord(body=json.loads(row[0]), revision=str(row[1]))


def write(conn: sqlite3.Connection, table: str, body: Mapping[str, Any], revision: str | None) -> str | None:
    """Compare-and-set inside the caller's write transaction; the new revision or None on a conflict."""
    text = json.dumps(to_jsonable(dict(body)), sort_keys=True)
    now_ms = int(time.time() * 1000)
    row = conn.execute(f"SELECT revision FROM {table} WHERE id = ?", (STATE_ID,)).fetchone()
    if row is None:
        if revision is not None:
            return None  # it was there when the caller read it: deleted since, start again
        conn.execute(
            f"INSERT INTO {table} (id, revision, updated_at, body) VALUES (?, 1, ?, ?)", (STATE_ID, now_ms, text)
        )
        return "1"
    if revision is None or str(row[0]) != revision:
        return None
    new = int(row[0]) + 1
    conn.execute(
        f"UPDATE {table} SET revision = ?, updated_at = ?, body = ? WHERE id = ? AND revision = ?",
        (new, now_ms, text, STATE_ID, int(row[0])),
    )
    return str(new)
