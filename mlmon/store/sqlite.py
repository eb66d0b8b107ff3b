"""SQLite inference store (embedded mode): one file, WAL, one writer process and any number of readers.

Per model three tables: ``events_<model>`` (one typed column per spec feature, ``f_<name>`` REAL or TEXT;
``prediction_id`` primary key, so a replay is stored once), ``labels_<model>`` (upsert, last wins) and
``reports_<model>``. Counts, bins and summaries run as SQL next to the data; only the numbers come back.
Conventions shared with Elasticsearch (bins, booleans, millisecond times, percentiles) are in ``common``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlmon.errors import InvalidInput, StoreUnavailable
from mlmon.spec import ModelSpec
from mlmon.store.base import (
    BinnedCounts,
    BinSpec,
    CategoryBins,
    InferenceEvent,
    LabelRecord,
    LabelWriteResult,
    NumericBins,
    NumericSummary,
    ReportKind,
    ReportRecord,
    RetentionResult,
    TimeWindow,
    WriteResult,
)
from mlmon.store.common import (
    RESPONSE_KINDS,
    check_kind,
    check_percentiles,
    checked_edges,
    feature_column,
    frame_refs,
    normalize_event,
    percentile_ranks,
    resolve_field,
    to_jsonable,
    to_ms,
    typed_frame,
    window_ms,
)
from mlmon.store.fields import LABEL_COLUMNS, WINDOW_COLUMNS

BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500  # ids per IN (...) query, below SQLite's parameter limit
_REPORT_COLUMNS = (
    ("model_version", "TEXT"),
    ("status", "TEXT"),
    ("summary", "TEXT"),
    ("drift_detected", "INTEGER"),
    ("findings", "TEXT"),
)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class SQLiteStore:
    """``InferenceStore`` on one SQLite file; thread-safe within a process (one connection, one lock)."""

    backend = "sqlite"

    def __init__(self, path: str | Path, spec: ModelSpec, *, retention_days: int | None = None) -> None:
        self.path = Path(path)
        self.spec = spec
        self.retention_days = retention_days
        self.events = _q(f"events_{spec.model}")
        self.labels = _q(f"labels_{spec.model}")
        self.reports = _q(f"reports_{spec.model}")
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._schema_ready = False

    # --- connection ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                # WAL: readers in other processes never block the writer, nor it them.
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(
                    f"cannot open SQLite store {self.path}: {exc}", hint="check MLMON_STORE and the folder"
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
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from None

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        cols = ", ".join(
            f"{_q(feature_column(f.name))} {'REAL' if f.is_numeric else 'TEXT'}" for f in self.spec.features
        )
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.events} (prediction_id TEXT PRIMARY KEY, ts INTEGER NOT NULL,"
                " model_name TEXT NOT NULL, model_version TEXT NOT NULL, prediction_label TEXT, score REAL,"
                f" response_kind TEXT NOT NULL, latency_ms REAL, missing TEXT, extra TEXT, {cols})"
            )
            conn.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'ix_events_{self.spec.model}_ts')} ON {self.events} (ts)")
            # A feature added to the spec later gets its column; old rows read as missing.
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({self.events})")}
            for f in self.spec.features:
                if feature_column(f.name) not in have:
                    kind = "REAL" if f.is_numeric else "TEXT"
                    conn.execute(f"ALTER TABLE {self.events} ADD COLUMN {_q(feature_column(f.name))} {kind}")
            # label has no declared type: class names stay TEXT, regression targets stay REAL.
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.labels} (prediction_id TEXT PRIMARY KEY, label,"
                " observed_at INTEGER NOT NULL, prediction_ts INTEGER NOT NULL)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.reports} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " kind TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL)"
            )
            # The indexed summary of a report (``ReportRecord``); older files get the columns added.
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({self.reports})")}
            for column, kind in _REPORT_COLUMNS:
                if column not in have:
                    conn.execute(f"ALTER TABLE {self.reports} ADD COLUMN {column} {kind}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreUnavailable(f"cannot create the SQLite schema in {self.path}: {exc}") from None
        self._schema_ready = True

    def ensure_schema(self) -> None:
        with self._db():
            pass

    def ping(self) -> bool:
        try:
            with self._db() as conn:
                conn.execute(f"SELECT 1 FROM {self.events} LIMIT 1").fetchall()
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

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        result = WriteResult()
        names = [f.name for f in self.spec.features]
        cols = [
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
            *map(feature_column, names),
        ]
        sql = f"INSERT OR IGNORE INTO {self.events} ({', '.join(map(_q, cols))}) VALUES ({', '.join('?' * len(cols))})"
        rows: list[tuple[Any, ...]] = []
        for event in events:
            norm = normalize_event(event, self.spec)
            if isinstance(norm, str):
                result.rejected.append((str(event.prediction_id), norm))
                continue
            extra = {k: v for k, v in norm.features.items() if k not in names}
            rows.append(
                (
                    norm.prediction_id,
                    to_ms(norm.timestamp),
                    norm.model_name,
                    norm.model_version,
                    norm.prediction_label,
                    norm.score,
                    norm.response_kind,
                    norm.latency_ms,
                    json.dumps(list(norm.missing)),
                    json.dumps(to_jsonable(extra)) if extra else None,
                    *(norm.features.get(n) for n in names),
                )
            )
        if not rows:
            return result
        with self._db(write=True) as conn:
            before = conn.total_changes
            conn.executemany(sql, rows)  # ignored duplicates do not add to total_changes
            stored = conn.total_changes - before
        result.stored = stored
        result.duplicates = len(rows) - stored
        return result

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        result = LabelWriteResult()
        if not labels:
            return result
        ids = list(dict.fromkeys(label.prediction_id for label in labels))
        with self._db(write=True) as conn:
            known: dict[str, int] = {}
            existing: set[str] = set()
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                known.update(
                    conn.execute(
                        f"SELECT prediction_id, ts FROM {self.events} WHERE prediction_id IN ({marks})", chunk
                    ).fetchall()
                )
                existing.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT prediction_id FROM {self.labels} WHERE prediction_id IN ({marks})", chunk
                    )
                )
            for label in labels:  # in order: a later label for the same id replaces the earlier one
                pid = label.prediction_id
                if pid not in known:
                    if pid not in result.unknown:
                        result.unknown.append(pid)
                    continue
                value = label.label if isinstance(label.label, str) else float(label.label)
                conn.execute(
                    f"INSERT INTO {self.labels} (prediction_id, label, observed_at, prediction_ts) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(prediction_id) DO UPDATE SET label = excluded.label, "
                    "observed_at = excluded.observed_at",
                    (pid, value, to_ms(label.observed_at), known[pid]),
                )
                result.written += 1
                if pid in existing:
                    result.replaced += 1
                existing.add(pid)
        return result

    def write_report(self, record: ReportRecord) -> None:
        findings = json.dumps(list(record.findings))
        drift = None if record.drift_detected is None else int(record.drift_detected)
        with self._db(write=True) as conn:
            conn.execute(
                f"INSERT INTO {self.reports} (kind, ts, body, model_version, status, summary, drift_detected, "
                "findings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.kind,
                    to_ms(record.timestamp),
                    json.dumps(to_jsonable(record.body)),
                    record.model_version,
                    record.status,
                    record.summary,
                    drift,
                    findings,
                ),
            )

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete events (and their labels) from UTC days older than ``retention_days``."""
        if not self.retention_days:
            return RetentionResult(None)
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        cutoff = datetime.combine(today - timedelta(days=self.retention_days), datetime.min.time(), UTC)
        with self._db(write=True) as conn:
            deleted = conn.execute(f"DELETE FROM {self.events} WHERE ts < ?", (to_ms(cutoff),)).rowcount
            conn.execute(f"DELETE FROM {self.labels} WHERE prediction_ts < ?", (to_ms(cutoff),))
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
            return int(conn.execute(f"SELECT COUNT(*) FROM {self.events} {where}", params).fetchone()[0])

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        refs = frame_refs(self.spec, fields)
        where, params = self._where(window, model_version)
        cols = ", ".join(_q(r.column) for r in refs)
        sql = (
            f"SELECT prediction_id, ts, model_version, prediction_label, score, response_kind, latency_ms"
            f"{', ' + cols if cols else ''} FROM {self.events} {where} ORDER BY ts, prediction_id"
        )
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
        refs = frame_refs(self.spec, extra_fields)
        where, params = self._where(window, model_version, alias="e.")
        extra = "".join(f", e.{_q(r.column)}" for r in refs)
        sql = (
            "SELECT e.prediction_id, e.ts, e.model_version, e.prediction_label, e.score, e.response_kind, "
            f"e.latency_ms, l.label, l.observed_at{extra} FROM {self.events} e LEFT JOIN {self.labels} l "
            f"ON l.prediction_id = e.prediction_id {where} ORDER BY e.ts, e.prediction_id"
        )
        with self._db() as conn:
            rows = conn.execute(sql, params).fetchall()
        columns = [*WINDOW_COLUMNS, *LABEL_COLUMNS, *(r.name for r in refs)]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        return typed_frame(frame, refs)

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        """All fields in one statement: each row's bin per field is computed once (a binary search over
        the edges in SQL), materialised, then counted per field. Bin -1 = missing."""
        where, where_params = self._where(window, model_version)
        exprs: list[str] = []
        params: list[Any] = []
        args: list[Any]
        sizes: list[int] = []
        for i, spec in enumerate(bins):
            ref = resolve_field(self.spec, spec.feature)
            col = _q(ref.column)
            if isinstance(spec, NumericBins):
                check_kind(ref, "numeric", "numeric bins")
                expr, args = _search_expr(col, checked_edges(spec.feature, spec.edges), 0, len(spec.edges))
                sizes.append(len(spec.edges) + 1)
            elif isinstance(spec, CategoryBins):
                check_kind(ref, "categorical", "category bins")
                cats = [str(c) for c in spec.categories]
                whens = " ".join(f"WHEN {col} = ? THEN {j}" for j in range(len(cats)))
                expr, args = (f"CASE {whens} ELSE {len(cats)} END", cats) if cats else ("0", [])
                sizes.append(len(cats) + 1)
            else:
                raise InvalidInput("bins", f"unknown bin spec {type(spec).__name__}")
            exprs.append(f"CASE WHEN {col} IS NULL THEN -1 ELSE {expr} END AS b{i}")
            params += args
        if not bins:
            return {}
        counts = [np.zeros(n, dtype=np.int64) for n in sizes]
        missing = [0] * len(bins)
        union = " UNION ALL ".join(f"SELECT {i}, b{i}, COUNT(*) FROM t GROUP BY b{i}" for i in range(len(bins)))
        with self._db() as conn:
            rows = conn.execute(
                f"WITH t AS MATERIALIZED (SELECT {', '.join(exprs)} FROM {self.events} {where}) {union}",
                [*params, *where_params],
            ).fetchall()
        for i, b, n in rows:
            if b < 0:
                missing[i] = int(n)
            else:
                counts[i][int(b)] = int(n)
        total = int(counts[0].sum()) + missing[0]
        return {
            spec.feature: BinnedCounts(spec.feature, c, m, total)
            for spec, c, m in zip(bins, counts, missing, strict=True)
        }

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]:
        check_percentiles(percentiles)
        condition, params = self._where(window, model_version)
        out: dict[str, NumericSummary] = {}
        where = f"FROM {self.events} {condition}"
        with self._db() as conn:
            total = int(conn.execute(f"SELECT COUNT(*) {where}", params).fetchone()[0])
            for name in features:
                ref = resolve_field(self.spec, name)
                check_kind(ref, "numeric", "a numeric summary")
                col = _q(ref.column)
                n, mean, lo, hi = conn.execute(
                    f"SELECT COUNT({col}), AVG({col}), MIN({col}), MAX({col}) {where}", params
                ).fetchone()
                n = int(n)
                std: float | None = None
                pct: dict[float, float | None] = {float(p): None for p in percentiles}
                if n:
                    # Second pass around the mean: no cancellation for large values with small spread.
                    var = conn.execute(
                        f"SELECT SUM(({col} - ?) * ({col} - ?)) {where} AND {col} IS NOT NULL",
                        (mean, mean, *params),
                    ).fetchone()[0]
                    std = float(np.sqrt(max(float(var) / n, 0.0)))
                    pct = self._percentiles(conn, col, where, params, n, percentiles)
                out[name] = NumericSummary(
                    name,
                    n,
                    total - n,
                    None if mean is None else float(mean),
                    std,
                    None if lo is None else float(lo),
                    None if hi is None else float(hi),
                    pct,
                )
        return out

    @staticmethod
    def _percentiles(
        conn: sqlite3.Connection,
        col: str,
        where: str,
        params: Sequence[Any],
        n: int,
        percentiles: Sequence[float],
    ) -> dict[float, float | None]:
        plan = {float(p): percentile_ranks(n, float(p)) for p in percentiles}
        ranks = sorted({r for lo, hi, _ in plan.values() for r in (lo, hi)})
        marks = ",".join("?" * len(ranks))
        # One sort per feature; only the needed order statistics come back.
        rows = conn.execute(
            f"SELECT rn, v FROM (SELECT {col} AS v, ROW_NUMBER() OVER (ORDER BY {col}) - 1 AS rn "
            f"{where} AND {col} IS NOT NULL) WHERE rn IN ({marks})",
            [*params, *ranks],
        ).fetchall()
        value = {int(r): float(v) for r, v in rows}
        return {p: value[lo] + w * (value[hi] - value[lo]) for p, (lo, hi, w) in plan.items()}

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        where, params = self._where(window, model_version)
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT response_kind, COUNT(*) FROM {self.events} {where} GROUP BY response_kind", params
            ).fetchall()
        counts = dict.fromkeys(RESPONSE_KINDS, 0)
        counts.update({str(k): int(n) for k, n in rows})
        return counts

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT body FROM {self.reports} WHERE kind = ? ORDER BY ts DESC, id DESC LIMIT ?",
                (kind, int(limit)),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]


def _search_expr(col: str, edges: Sequence[float], lo: int, hi: int) -> tuple[str, list[float]]:
    """SQL for ``np.searchsorted(edges, col, side="right")`` known to lie in ``[lo, hi]``: a binary search
    (~log2(k) comparisons per row instead of k)."""
    if lo == hi:
        return str(lo), []
    mid = (lo + hi) // 2  # col < edges[mid] → at most mid edges are <= col
    left, left_args = _search_expr(col, edges, lo, mid)
    right, right_args = _search_expr(col, edges, mid + 1, hi)
    return f"CASE WHEN {col} < ? THEN {left} ELSE {right} END", [edges[mid], *left_args, *right_args]
