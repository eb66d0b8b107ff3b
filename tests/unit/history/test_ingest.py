"""`mlmon ingest`: history files into a real SQLite store through the live path's validation and bulk writes —
idempotent by prediction id, bad rows rejected with their reason while the good rows load, labels upserted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlmon.errors import ConfigError
from mlmon.history import sources
from mlmon.history.columns import IngestColumns
from mlmon.history.convert import RowConverter
from mlmon.history.ingest import HistorySink, IngestSummary, ingest
from mlmon.inference_log.pii import PiiProtector
from mlmon.instrument.events import EventBuilder
from mlmon.spec import ModelSpec, parse_spec
from mlmon.store.base import TimeWindow
from mlmon.store.fields import LABEL, LABEL_OBSERVED_AT, DocField
from mlmon.store.sqlite import SQLiteStore
from tests.unit.cli.test_cli import run_cli

T0 = datetime(2025, 3, 1, tzinfo=UTC)
WIDE = TimeWindow(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
REGRESSION: dict[str, Any] = {
    "model": "demand",
    "entity": {"keys": ["store_id"], "timestamp": "event_timestamp"},
    "label": {"column": "units"},
    "prediction": {"kind": "regression"},
    "features": [
        {"name": "temperature", "type": "numeric", "required": True},
        {"name": "promo", "type": "boolean"},
        {"name": "region", "type": "categorical", "categories": ["north", "south"]},
        {"name": "owner_email", "type": "categorical", "pii": True},
    ],
}
BINARY: dict[str, Any] = {
    "model": "churn",
    "prediction": {"kind": "classification", "classes": ["stays", "leaves"], "threshold": 0.5},
    "features": [{"name": "x", "type": "numeric"}],
}


def history(n: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "store_id": [f"s{i % 7:02d}" for i in range(n)],
            "event_timestamp": [T0 + timedelta(hours=i) for i in range(n)],
            "temperature": rng.normal(12, 4, n).round(1),
            "promo": rng.random(n) < 0.3,
            "region": rng.choice(["north", "south", "west"], n),
            "owner_email": [f"owner{i}@example.com" for i in range(n)],
            "prediction": rng.uniform(5, 50, n).round(2),
            "units": rng.integers(0, 60, n),
        }
    )


def load(path: Path, spec: ModelSpec, store: HistorySink, *, version: str = "v1", **overrides: str) -> IngestSummary:
    columns = IngestColumns.for_spec(spec, overrides)
    source = sources.from_file(path, spec, columns, chunk_rows=16)
    builder = EventBuilder(spec, version, PiiProtector(spec, "hash", "unit-test-pii-key-0123"))
    converter = RowConverter(spec, builder, columns.present(source.columns), version)
    return ingest(source, converter, store, now=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def spec() -> ModelSpec:
    return parse_spec(REGRESSION)


@pytest.fixture
def store(tmp_path: Path, spec: ModelSpec) -> Any:
    opened = SQLiteStore(tmp_path / "history.db", spec)
    yield opened
    opened.close()


def test_the_same_file_twice_stores_each_prediction_once(tmp_path: Path, spec: ModelSpec, store: SQLiteStore) -> None:
    path = tmp_path / "history.parquet"
    history().to_parquet(path)
    first = load(path, spec, store)
    assert (first.rows, first.loaded, first.already_present, first.rejected_rows) == (40, 40, 0, 0)
    assert first.labels_written == 40 and first.labels_replaced == 0
    second = load(path, spec, store)
    assert (second.loaded, second.already_present, second.labels_replaced) == (0, 40, 40)
    rows = store.labelled_predictions(WIDE)
    assert len(rows) == 40 and rows["prediction_id"].is_unique
    assert first.first_time == T0 and first.last_time == T0 + timedelta(hours=39)
    # As the live path stores them: event time, no server time, value as score, booleans as keywords, PII hashed.
    frame = store.read_window(WIDE, fields=["promo", "owner_email"]).set_index("timestamp").sort_index()
    source = history()
    assert frame[DocField.SCORE].tolist() == source["prediction"].tolist()
    assert frame[DocField.RECEIVED_AT].isna().all()
    assert set(frame["promo"]) <= {"true", "false"}
    assert not frame["owner_email"].str.contains("@").any()
    assert (rows[LABEL_OBSERVED_AT] == rows["timestamp"]).all()  # no label time column: the event time
    assert sorted(rows[LABEL]) == sorted(source["units"].astype(float))


def test_a_later_file_with_labels_updates_the_same_predictions(
    tmp_path: Path, spec: ModelSpec, store: SQLiteStore
) -> None:
    without = tmp_path / "predictions.parquet"
    history().drop(columns="units").to_parquet(without)
    assert load(without, spec, store).labels_written == 0
    with_labels = history()
    with_labels["label_observed_at"] = with_labels["event_timestamp"] + timedelta(days=1)
    path = tmp_path / "labelled.csv"
    with_labels.to_csv(path, index=False)
    summary = load(path, spec, store)
    assert (summary.loaded, summary.already_present, summary.labels_written) == (0, 40, 40)
    rows = store.labelled_predictions(WIDE)
    assert len(rows) == 40 and (rows[LABEL_OBSERVED_AT] - rows["timestamp"] == timedelta(days=1)).all()


def test_bad_rows_are_reported_with_their_reason_and_the_good_rows_load(
    tmp_path: Path, spec: ModelSpec, store: SQLiteStore
) -> None:
    frame = history().astype({"temperature": object, "promo": object, "event_timestamp": object})
    frame.loc[3, "temperature"] = "warm"
    frame.loc[5, "temperature"] = None  # required
    frame.loc[8, "event_timestamp"] = "yesterday"
    frame.loc[9, "event_timestamp"] = None
    frame.loc[11, "promo"] = "maybe"
    frame.loc[12, "units"] = np.nan  # no label: loads without one
    frame.loc[13, "event_timestamp"] = datetime(2030, 1, 1, tzinfo=UTC)  # after the clock
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    summary = load(path, spec, store)
    assert summary.loaded == 34 and summary.rejected_rows == 6
    assert {reason: (g.count, g.first_row) for reason, g in summary.rejected.items()} == {
        "features.temperature: expected a number": (1, 4),
        "features.temperature: required feature is missing": (1, 6),
        "event_timestamp: not an ISO 8601 date-time": (1, 9),
        "event_timestamp: missing": (1, 10),
        "features.promo: expected a boolean (true/false)": (1, 12),
        "event_timestamp: in the future (after the server's clock)": (1, 14),
    }
    assert summary.labels_written == 33
    text = "\n".join(summary.lines())
    assert "rejected 1: features.temperature: expected a number (first: row 4, value 'warm')" in text
    stored = store.read_window(WIDE)
    assert len(stored) == 34 and stored["timestamp"].min() == T0


def test_columns_are_named_on_the_command_line_and_a_missing_one_is_one_clear_error(
    tmp_path: Path, spec: ModelSpec, store: SQLiteStore
) -> None:
    frame = history().rename(columns={"event_timestamp": "at", "prediction": "forecast", "units": "truth"})
    path = tmp_path / "renamed.parquet"
    frame.to_parquet(path)
    with pytest.raises(ConfigError, match="no event-time column 'event_timestamp'") as info:
        load(path, spec, store)
    assert "at, temperature" in str(info.value)
    summary = load(path, spec, store, timestamp="at", prediction="forecast", label="truth")
    assert summary.loaded == 40 and summary.labels_written == 40


def test_classification_from_scores_only_and_versions_per_row(tmp_path: Path) -> None:
    spec = parse_spec(BINARY)
    frame = pd.DataFrame(
        {
            "timestamp": [(T0 + timedelta(minutes=i)).isoformat() for i in range(6)],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "score": [0.1, 0.7, None, 0.5, 0.2, 0.9],
            "model_version": ["a", "a", "a", "b", None, "b"],
            "label": ["0", "1", "1", "leaves", "stays", "1"],
            "latency_ms": [3.5, None, 1.0, 2.0, 2.5, 4.0],
        }
    )
    path = tmp_path / "churn.csv"
    frame.to_csv(path, index=False)
    store = SQLiteStore(tmp_path / "churn.db", spec)
    try:
        summary = load(path, spec, store, version="fallback-version")
        rows = store.labelled_predictions(WIDE).sort_values("timestamp")
    finally:
        store.close()
    assert summary.loaded == 6 and dict(summary.versions) == {"a": 3, "b": 2, "fallback-version": 1}
    assert rows[DocField.PREDICTED_LABEL].tolist() == ["stays", "leaves", None, "leaves", "stays", "leaves"]
    assert rows[DocField.RESPONSE_KIND].tolist() == ["ok", "ok", "empty", "ok", "ok", "ok"]
    assert rows[DocField.LATENCY_MS].tolist() == [3.5, 0.0, 1.0, 2.0, 2.5, 4.0]  # absent: 0 (unknown)
    # 0/1 name the negative/positive class of a binary model, as in the registered reference rows
    assert rows[LABEL].tolist() == ["stays", "leaves", "leaves", "leaves", "stays", "leaves"]


def test_the_command_loads_a_file_and_prints_the_summary(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(REGRESSION))
    path = tmp_path / "history.parquet"
    history().to_parquet(path)
    env = {
        "MLMON_MODEL_SPEC": str(spec_path),
        "MLMON_STORE": f"sqlite:///{tmp_path / 'cli.db'}",
        "MLMON_VAR_DIR": str(tmp_path / "var"),
        "MLMON_PII_HASH_KEY": "cli-test-pii-key-0123",
        "MLMON_STORE_RETENTION_DAYS": "3650",
    }
    out = run_cli("ingest", str(path), "--model-version", "v7", env=env)
    assert out.returncode == 0, out.stderr
    assert "loaded 40, already present 0, rejected 0" in out.stdout
    assert "model versions: v7 (40)" in out.stdout
    assert "ingest [" in out.stderr and "40/40 rows (100%)" in out.stderr
    again = run_cli("ingest", str(path), "--model-version", "v7", "--quiet", env=env)
    assert "loaded 0, already present 40" in again.stdout and "ingest [" not in again.stderr
    missing = run_cli("ingest", str(path), env=env)  # no version column, none registered, no --model-version
    assert missing.returncode == 2 and "pass --model-version" in missing.stderr
    assert "Traceback" not in missing.stderr
