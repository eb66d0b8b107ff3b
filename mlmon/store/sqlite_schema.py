"""Tables of the SQLite inference store, created on first use and extended in place when columns are added.

Per model: ``events_<model>`` (fixed columns, then one typed column per spec feature, ``f_<name>`` REAL or
TEXT; ``prediction_id`` primary key, so a replay is stored once; an index on ``ts``), ``labels_<model>``
(``prediction_id`` primary key: upsert, last wins), ``reports_<model>`` and ``incidents_<model>`` (the shared
incident state, ``sqlite_incidents``). A column added in a later version
of mlmon or a feature added to the spec is added by ``ALTER TABLE`` to an existing file; old rows read NULL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from mlmon.spec import ModelSpec
from mlmon.store import sqlite_incidents
from mlmon.store.common import feature_column

# Fixed columns of the events table, in insert order; the feature columns follow.
EVENT_COLUMNS = (
    "prediction_id",
    "ts",
    "model_name",
    "model_version",
    "prediction_label",
    "score",
    "response_kind",
    "latency_ms",
    "missing",
    "extra",
    "received_at",
)
# Columns added after the first release: ALTER TABLE adds them to older files and to new ones alike.
_LATER_EVENT_COLUMNS = (("received_at", "INTEGER"),)  # epoch ms, NULL when unknown
_REPORT_COLUMNS = (
    ("model_version", "TEXT"),
    ("status", "TEXT"),
    ("summary", "TEXT"),
    ("drift_detected", "INTEGER"),
    ("findings", "TEXT"),
)


def quote(identifier: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Tables:
    """The quoted table names of one model."""

    model: str

    @property
    def events(self) -> str:
        return quote(f"events_{self.model}")

    @property
    def labels(self) -> str:
        return quote(f"labels_{self.model}")

    @property
    def reports(self) -> str:
        return quote(f"reports_{self.model}")

    @property
    def incidents(self) -> str:
        return quote(f"incidents_{self.model}")


def create_schema(conn: sqlite3.Connection, tables: Tables, spec: ModelSpec) -> None:
    """Create or extend the tables, inside the caller's transaction."""
    features = [(feature_column(f.name), "REAL" if f.is_numeric else "TEXT") for f in spec.features]
    cols = ", ".join(f"{quote(name)} {kind}" for name, kind in features)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {tables.events} (prediction_id TEXT PRIMARY KEY, ts INTEGER NOT NULL,"
        " model_name TEXT NOT NULL, model_version TEXT NOT NULL, prediction_label TEXT, score REAL,"
        f" response_kind TEXT NOT NULL, latency_ms REAL, missing TEXT, extra TEXT, {cols})"
    )
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'ix_events_{spec.model}_ts')} ON {tables.events} (ts)")
    _add_missing_columns(conn, tables.events, [*_LATER_EVENT_COLUMNS, *features])
    # label has no declared type: class names stay TEXT, regression targets stay REAL.
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {tables.labels} (prediction_id TEXT PRIMARY KEY, label,"
        " observed_at INTEGER NOT NULL, prediction_ts INTEGER NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {tables.reports} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " kind TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL)"
    )
    _add_missing_columns(conn, tables.reports, _REPORT_COLUMNS)
    sqlite_incidents.create_table(conn, tables.incidents)


def _add_missing_columns(conn: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]) -> None:
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} {kind}")
