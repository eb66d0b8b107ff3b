"""SQLite inference store (embedded mode): one file, WAL, one writer process and any number of readers.

Per model four tables: ``events_<model>`` (one typed column per spec feature, ``f_<name>`` REAL or TEXT;
``prediction_id`` primary key, so a replay is stored once), ``labels_<model>`` (upsert, last wins),
``reports_<model>`` and the shared incident state ``incidents_<model>`` (``sqlite_incidents``). Counts, bins
and summaries run as SQL next to the data (``sqlite_sql``); only the numbers come back. Conventions shared
with Elasticsearch (bins, booleans, millisecond times, percentiles) are in ``common``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlmon.errors import StoreUnavailable
from mlmon.spec import ModelSpec
from mlmon.store import sqlite_incidents, sqlite_sql
from mlmon.store.base import (
    BinnedCounts,
    BinSpec,
    InferenceEvent,
    LabelRecord,
    LabelWriteResult,
    NumericSummary,
    ReportKind,
    ReportRecord,
    RetentionResult,
    StateRecord,
    TimeWindow,
    WriteResult,
)
from mlmon.store.common import (
    accept_events,
    check_labels,
    feature_column,
    frame_refs,
    label_value,
    plan_labels,
    response_counts,
    retention_cutoff,
    to_ms,
    typed_frame,
    window_ms,
)
from mlmon.store.fields import LABEL_COLUMNS, WINDOW_COLUMNS
from mlmon.store.normalize import to_jsonable
from mlmon.store.sqlite_schema import EVENT_COLUMNS, Tables, create_schema, quote

BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500  # ids per IN (...) query, below SQLite's parameter limit
# The fixed columns of the events table, in the order of WINDOW_COLUMNS where they are read back.
_WINDOW_SQL = "prediction_id, ts, model_version, prediction_label, score, response_kind, latency_ms, received_at"


# Errors SQLite (or binding a value) raises because of one row's data, not because the store is unavailable;
# "database is locked", I/O errors and a file that cannot be opened are OperationalError/DatabaseError.
_ROW_ERRORS = (sqlite3.DataError, sqlite3.IntegrityError, ValueError, OverflowError)  # UnicodeEncodeError ⊂ ValueError


class SQLiteStore:
    """``InferenceStore`` on one SQLite file; thread-safe within a process (one connection, one lock).

    ``busy_timeout_ms``: how long a write waits for another process's write lock before the store counts as
    unavailable."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        spec: ModelSpec,
        *,
        retention_days: int | None = None,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self._path = Path(path)
        self._spec = spec
        self._retention_days = retention_days
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._tables = Tables(spec.model)
        self._events = self._tables.events
        self._labels = self._tables.labels
        self._reports = self._tables.reports
        self._features = [f.name for f in spec.features]
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._schema_ready = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # --- connection ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self._path,
                    timeout=self._busy_timeout_ms / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                # WAL: readers in other processes never block the writer, nor it them.
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(
                    f"cannot open SQLite store {self._path}: {exc}", hint="check MLMON_STORE and the folder"
                ) from None
            self._conn = conn
        return self._conn

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction: IMMEDIATE for writes, a read snapshot otherwise (several
        statements of one call see the same data while the writer process commits)."""
        with self._lock:
            conn = self._connect()
            if not self._schema_ready:
                self._create_schema(conn)
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise StoreUnavailable(f"SQLite store {self._path}: {exc}") from None

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            create_schema(conn, self._tables, self._spec)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreUnavailable(f"cannot create the SQLite schema in {self._path}: {exc}") from None
        self._schema_ready = True

    def ensure_schema(self) -> None:
        with self._db():
            pass

    def ping(self) -> bool:
        try:
            with self._db() as conn:
                conn.execute(f"SELECT 1 FROM {self._events} LIMIT 1").fetchall()
            return True
        except StoreUnavailable:
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._schema_ready = False

    def refresh(self) -> None:
        """Nothing to do: SQLite reads see every committed write (Elasticsearch needs a refresh)."""

    # --- writes -------------------------------------------------------------------------------------

    def _row(self, event: InferenceEvent) -> tuple[Any, ...]:
        extra = {k: v for k, v in event.features.items() if k not in self._features}
        return (
            event.prediction_id,
            to_ms(event.timestamp),
            event.model_name,
            event.model_version,
            event.prediction_label,
            event.score,
            event.response_kind,
            event.latency_ms,
            json.dumps(list(event.missing)) if event.missing else "[]",
            json.dumps(to_jsonable(extra)) if extra else None,
            None if event.received_at is None else to_ms(event.received_at),
            *(event.features.get(n) for n in self._features),
        )

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        """Insert the batch in one transaction. A row SQLite refuses for its data (not for availability) is
        isolated by bisection and rejected with the reason; the others are stored."""
        result = WriteResult()
        accepted = accept_events(events, self._spec, result)
        if not accepted:
            return result
        cols = [*EVENT_COLUMNS, *map(feature_column, self._features)]
        insert = _RowsInsert(f"INSERT OR IGNORE INTO {self._events} ({', '.join(map(quote, cols))}) VALUES ", len(cols))
        batch: list[tuple[str, tuple[Any, ...] | str]] = []
        for event in accepted:
            try:
                batch.append((event.prediction_id, self._row(event)))
            except _ROW_ERRORS as exc:
                batch.append((event.prediction_id, _row_reason(exc)))
        rows = [(pid, row) for pid, row in batch if not isinstance(row, str)]
        result.rejected += [(pid, row) for pid, row in batch if isinstance(row, str)]
        refused_before = len(result.rejected)
        with self._db(write=True) as conn:
            result.stored = _insert(conn, insert, rows, result.rejected)
        result.duplicates = len(rows) - result.stored - (len(result.rejected) - refused_before)
        return result

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        result = LabelWriteResult()
        if not labels:
            return result
        check_labels(labels)
        ids = list(dict.fromkeys(label.prediction_id for label in labels))
        with self._db(write=True) as conn:
            known: dict[str, int] = {}
            existing: set[str] = set()
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT prediction_id, ts FROM {self._events} WHERE prediction_id IN ({marks})"
                known.update(conn.execute(sql, chunk).fetchall())
                sql = f"SELECT prediction_id FROM {self._labels} WHERE prediction_id IN ({marks})"
                existing.update(r[0] for r in conn.execute(sql, chunk))
            for label, prediction_ms in plan_labels(labels, known, result):
                conn.execute(
                    f"INSERT INTO {self._labels} (prediction_id, label, observed_at, prediction_ts) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(prediction_id) DO UPDATE SET label = excluded.label, "
                    "observed_at = excluded.observed_at",
                    (label.prediction_id, label_value(label), to_ms(label.observed_at), prediction_ms),
                )
                result.written += 1
                if label.prediction_id in existing:
                    result.replaced += 1
                existing.add(label.prediction_id)
        return result

    def write_report(self, record: ReportRecord) -> None:
        findings = json.dumps(list(record.findings))
        drift = None if record.drift_detected is None else int(record.drift_detected)
        body = json.dumps(to_jsonable(record.body))
        with self._db(write=True) as conn:
            conn.execute(
                f"INSERT INTO {self._reports} (kind, ts, body, model_version, status, summary, drift_detected, "
                "findings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.kind, to_ms(record.timestamp), body, *_summary(record), drift, findings),
            )

    def read_incident_state(self) -> StateRecord | None:
        with self._db() as conn:
            return sqlite_incidents.read(conn, self._tables.incidents)

    def write_incident_state(self, body: Mapping[str, Any], revision: str | None) -> str | None:
        with self._db(write=True) as conn:
            return sqlite_incidents.write(conn, self._tables.incidents, body, revision)

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete events (and their labels) from UTC days older than ``retention_days``."""
        cutoff = retention_cutoff(self._retention_days, now)
        if cutoff is None:
            return RetentionResult(None)
        with self._db(write=True) as conn:
            deleted = conn.execute(f"DELETE FROM {self._events} WHERE ts < ?", (to_ms(cutoff),)).rowcount
            conn.execute(f"DELETE FROM {self._labels} WHERE prediction_ts < ?", (to_ms(cutoff),))
        return RetentionResult(cutoff, int(deleted))

    # --- reads --------------------------------------------------------------------------------------

    @staticmethod
    def _where(window: TimeWindow, model_version: str | None, alias: str = "") -> tuple[str, list[Any]]:
        """``WHERE`` of a window's rows (optionally one model version) and its parameters."""
        start, end = window_ms(window)
        if model_version is None:
            return f"WHERE {alias}ts >= ? AND {alias}ts < ?", [start, end]
        return f"WHERE {alias}ts >= ? AND {alias}ts < ? AND {alias}model_version = ?", [start, end, model_version]

    def count(self, window: TimeWindow, model_version: str | None = None) -> int:
        where, params = self._where(window, model_version)
        with self._db() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {self._events} {where}", params).fetchone()[0])

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        refs = frame_refs(self._spec, fields)
        where, params = self._where(window, model_version)
        cols = "".join(f", {quote(r.column)}" for r in refs)
        sql = f"SELECT {_WINDOW_SQL}{cols} FROM {self._events} {where} ORDER BY ts, prediction_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._db() as conn:
            rows = conn.execute(sql, params).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=[*WINDOW_COLUMNS, *(r.name for r in refs)])
        return typed_frame(frame, refs)

    def labelled_predictions(
        self, window: TimeWindow, extra_fields: Sequence[str] = (), model_version: str | None = None
    ) -> pd.DataFrame:
        refs = frame_refs(self._spec, extra_fields)
        where, params = self._where(window, model_version, alias="e.")
        window_cols = ", ".join(f"e.{c.strip()}" for c in _WINDOW_SQL.split(","))
        extra = "".join(f", e.{quote(r.column)}" for r in refs)
        sql = (
            f"SELECT {window_cols}, l.label, l.observed_at{extra} FROM {self._events} e "
            f"LEFT JOIN {self._labels} l ON l.prediction_id = e.prediction_id {where} ORDER BY e.ts, e.prediction_id"
        )
        with self._db() as conn:
            rows = conn.execute(sql, params).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=[*WINDOW_COLUMNS, *LABEL_COLUMNS, *(r.name for r in refs)])
        return typed_frame(frame, refs)

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        where, params = self._where(window, model_version)
        with self._db() as conn:
            return sqlite_sql.binned_counts(conn, self._events, self._spec, bins, where, params)

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]:
        where, params = self._where(window, model_version)
        with self._db() as conn:
            return sqlite_sql.numeric_summaries(conn, self._events, self._spec, features, percentiles, where, params)

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        where, params = self._where(window, model_version)
        sql = f"SELECT response_kind, COUNT(*) FROM {self._events} {where} GROUP BY response_kind"
        with self._db() as conn:
            return response_counts(conn.execute(sql, params).fetchall())

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        sql = f"SELECT body FROM {self._reports} WHERE kind = ? ORDER BY ts DESC, id DESC LIMIT ?"
        with self._db() as conn:
            rows = conn.execute(sql, (kind, int(limit))).fetchall()
        return [json.loads(r[0]) for r in rows]


def _summary(record: ReportRecord) -> tuple[str | None, str | None, str | None]:
    return record.model_version, record.status, record.summary


class _RowsInsert:
    """One INSERT of many rows (``VALUES (...), (...)``) per chunk instead of ``executemany``: the sqlite3 module
    releases the GIL around every statement step, and each release costs a wait of up to the switch interval
    while the request threads hold the GIL — row by row, a 2,000-row batch took seconds under serving load."""

    ROWS = 256  # per statement: a few statements per batch, each compiled once (the module's statement cache)

    def __init__(self, head: str, width: int) -> None:
        self.head = head
        self.width = width
        self.row = f"({', '.join('?' * width)})"

    def run(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        # SQLite before 3.32 allows 999 parameters per statement
        per = max(1, min(self.ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self.width))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            conn.execute(self.head + ", ".join([self.row] * len(chunk)), [v for row in chunk for v in row])


def _insert(
    conn: sqlite3.Connection,
    insert: _RowsInsert,
    rows: Sequence[tuple[str, tuple[Any, ...]]],
    rejected: list[tuple[str, str]],
) -> int:
    """Insert ``rows`` inside a savepoint; on a row error roll the part back and bisect, so every storable row
    is stored and each refused row lands in ``rejected`` once. Returns the rows stored (duplicates ignored)."""
    if not rows:
        return 0
    conn.execute("SAVEPOINT rows")
    before = conn.total_changes
    try:
        insert.run(conn, [row for _, row in rows])  # ignored duplicates do not add to total_changes
    except _ROW_ERRORS as exc:
        conn.execute("ROLLBACK TO rows")
        conn.execute("RELEASE rows")
        if len(rows) == 1:
            rejected.append((rows[0][0], _row_reason(exc)))
            return 0
        mid = len(rows) // 2
        return _insert(conn, insert, rows[:mid], rejected) + _insert(conn, insert, rows[mid:], rejected)
    conn.execute("RELEASE rows")
    return conn.total_changes - before


def _row_reason(exc: BaseException) -> str:
    return f"not storable in SQLite: {type(exc).__name__}: {str(exc)[:200]}"
