"""History benchmark: `mlmon ingest` rate into SQLite and into the Elasticsearch-API test server, and the time of a
`mlmon backtest` over 365 daily windows of 10k predictions each (SQLite).

Model: the bike_rentals example's spec and its own scikit-learn pipeline fitted on simulated winter rows (no Feast:
the rows hold the features), registered with 20k of those rows as the reference. History: rows of the same
simulation at random times, 10k a day, the true rentals as labels; from day 200 on the temperature reads 8 °C
too warm, so incidents open and the policy has work to do.

- ingest rate: ``mlmon.history.ingest.ingest`` (what `mlmon ingest FILE` runs after start-up) from a parquet file:
  reading, conversion and validation of every row, PII handling, ``write_events`` and ``upsert_labels``.
  Reference: the store's own ``write_events`` + ``upsert_labels`` of the same rows already built as events.
  The ES-API server (osmem) keeps everything in memory (~0.8 GB per 100k documents): 20k rows there.
- backtest: every window runs the statistics job (counts, summaries and percentiles, range bins, response
  shares, evaluation of the labelled predictions of the mature window and label coverage of the current one,
  SLOs) and the drift job (counts, binned counts on the baseline's edges pushed down to SQLite, means, example
  ids, its per-window HTML report in a temp folder, decisions with streaks), then the incident policy; the
  report (HTML + JSON) is timed apart. Reference: only reading every window's rows (``read_window``), what a
  tool that pulls the rows into pandas must do before computing anything.

    python -m bench backtest            # full run: 3.65M rows loaded, 365 windows (~15-25 min on 2 cores)
    python -m bench.backtest --quick    # 30 windows, 100k-row ingest
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench.common import record
from mlmon.baseline.profile import build_profile
from mlmon.history import report, report_html
from mlmon.history.backtest import run_backtest
from mlmon.history.columns import IngestColumns
from mlmon.history.convert import RowConverter
from mlmon.history.dry_store import DryStore
from mlmon.history.ingest import HistorySink, IngestSummary, ingest
from mlmon.history.outcome import window_job_factories
from mlmon.history.sources import HistorySource, from_file
from mlmon.history.windows import WindowPlan, parse_range
from mlmon.inference_log.pii import PiiProtector
from mlmon.instrument.events import EventBuilder
from mlmon.notify.policy import Rules
from mlmon.registry import artifact
from mlmon.registry.scoring import model_frame
from mlmon.spec import ModelSpec, load_spec

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "bike_rentals"
VERSION = "bench0001"
START = pd.Timestamp("2025-01-01", tz="UTC")
CHANGE_DAY = 200


def _example(name: str) -> Any:
    """A module of the example (``make_data``, ``train``), imported from its folder."""
    import importlib

    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLE))


class Model:
    """The example's own pipeline (``train.build_pipeline``: gradient boosting, Poisson loss) fitted on the
    simulated winter rows, without Feast (the rows already hold the features)."""

    def __init__(self, pool: pd.DataFrame) -> None:
        self.train = _example("train")
        self.pipeline = self.train.build_pipeline().fit(self.train.model_frame(pool), pool["rentals"].astype(float))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline.predict(self.train.model_frame(frame)), dtype=float)


def register(root: Path, pool: pd.DataFrame, model: Model) -> tuple[ModelSpec, Path]:
    spec = load_spec(EXAMPLE / "spec.yaml")
    reference = pool.sample(20_000, random_state=1).reset_index(drop=True)
    scores = model.predict(reference)
    profile = build_profile(spec, VERSION, reference, scores, source="bench: simulated winter rows")
    model_dir = root / "models" / spec.model
    version_dir = model_dir / VERSION
    version_dir.mkdir(parents=True)
    artifact.write_metadata(version_dir, {"model": spec.model, "version": VERSION, "features": spec.feature_names})
    profile.save(version_dir / artifact.PROFILE_FILE)
    rows = model_frame(spec, reference)
    rows[artifact.SCORE_COLUMN] = scores
    rows.to_parquet(version_dir / artifact.REFERENCE_FILE)
    spec_path = version_dir / artifact.SPEC_FILE
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))
    artifact.set_current(model_dir, VERSION)
    return spec, model_dir


def history(pool: pd.DataFrame, model: Model, day: int, rows: int, seed: int) -> pd.DataFrame:
    """One day of predictions: pool rows at random times of the day; from CHANGE_DAY on 8 °C too warm."""
    rng = np.random.default_rng(seed + day)
    frame = pool.sample(rows, replace=True, random_state=seed + day).reset_index(drop=True)
    start = START + pd.Timedelta(days=day)
    frame["event_timestamp"] = start + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, rows)), unit="s")
    if day >= CHANGE_DAY:
        frame["temperature_c"] = frame["temperature_c"] + 8
    frame["prediction"] = model.predict(frame)
    frame["label_observed_at"] = frame["event_timestamp"] + pd.Timedelta(minutes=30)
    return frame


def converter(spec: ModelSpec) -> tuple[RowConverter, IngestColumns]:
    columns = IngestColumns.for_spec(spec)
    names = [*spec.feature_names, "station_id", "event_timestamp", "prediction", "rentals", "label_observed_at"]
    pii = PiiProtector(spec, "hash", "bench-pii-key-0123456789")
    return RowConverter(spec, EventBuilder(spec, VERSION, pii), columns.present(names), VERSION), columns


def ingest_rate(spec: ModelSpec, store: HistorySink, path: Path, backend: str) -> dict[str, Any]:
    rows = len(pd.read_parquet(path, columns=["prediction"]))
    convert, columns = converter(spec)
    summary = ingest(from_file(path, spec, columns, 5000), convert, store, now=datetime.now(UTC))
    assert summary.loaded == rows and not summary.rejected, summary.lines()
    # reference: the store's own bulk writes of the same rows, already built as events and labels
    frame = pd.read_parquet(path)
    frame["event_timestamp"] = frame["event_timestamp"] + pd.Timedelta(days=3650)  # other ids, same shape
    later = datetime(2100, 1, 1, tzinfo=UTC)
    built = [convert.convert(frame.iloc[i : i + 5000], i, later) for i in range(0, rows, 5000)]
    started = time.perf_counter()
    for chunk in built:
        store.write_events(chunk.events)
        store.upsert_labels(chunk.labels)
    raw_s = time.perf_counter() - started
    ingest_rate = rows / summary.seconds
    return {
        "measure": "ingest",
        "backend": backend,
        "rows": rows,
        "seconds": round(summary.seconds, 2),
        "rows_per_s": round(ingest_rate),
        "reference_rows_per_s": round(rows / raw_s),
        "ratio": round(ingest_rate / (rows / raw_s), 2),
    }


def _chunks(pool: pd.DataFrame, model: Model, days: int, per_day: int) -> Iterator[pd.DataFrame]:
    for day in range(days):
        yield history(pool, model, day, per_day, seed=11)


def backtest_time(
    spec: ModelSpec, root: Path, model_dir: Path, pool: pd.DataFrame, model: Model, days: int, per_day: int
) -> list[dict[str, Any]]:
    from mlmon.store.sqlite import SQLiteStore

    store = SQLiteStore(root / "year.db", spec)
    convert, _ = converter(spec)
    source = HistorySource("generated days", [], days * per_day, _chunks(pool, model, days, per_day))
    loaded: IngestSummary = ingest(source, convert, store, now=datetime.now(UTC))
    end = (START + pd.Timedelta(days=days)).isoformat()
    plan = WindowPlan.of(parse_range(START.isoformat(), end), "1d")
    spec_path = model_dir / VERSION / artifact.SPEC_FILE
    overrides = {"model_spec": spec_path, "model_path": model_dir, "exact_ks_max_rows": 0}
    with tempfile.TemporaryDirectory() as work:
        factories = window_job_factories()
        rules = Rules(cooldown_s=3600)  # the live defaults (digest daily, input shifts in the digest)
        run = run_backtest(plan, "A", overrides, factories, DryStore(store), Path(work), model=spec.model, rules=rules)
    started = time.perf_counter()
    document = report.backtest_document(spec.model, VERSION, plan, [run])
    report_html.write(document, root / "report.html")
    (root / "report.json").write_text(json.dumps(document))
    report_s = time.perf_counter() - started
    started = time.perf_counter()
    for window in plan.windows:
        store.read_window(window)
    pull_s = time.perf_counter() - started
    store.close()
    first = run.incidents[0].first_window.start.date().isoformat() if run.incidents else None
    return [
        {
            "measure": "load of the backtest data (generation + model predictions included)",
            "backend": "sqlite",
            "rows": loaded.loaded,
            "seconds": round(loaded.seconds, 1),
            "rows_per_s": round(loaded.loaded / loaded.seconds),
        },
        {
            "measure": "backtest",
            "backend": "sqlite",
            "windows": len(plan.windows),
            "rows_per_window": per_day,
            "seconds": round(run.seconds, 1),
            "per_window_s": round(run.seconds / len(plan.windows), 3),
            "report_s": round(report_s, 2),
            "report_html_bytes": (root / "report.html").stat().st_size,
            "reference_pull_rows_s": round(pull_s, 1),
            "ratio": round(run.seconds / pull_s, 2),
            "incidents": len(run.incidents),
            "first_incident_window": first,
            "change_day": (START + pd.Timedelta(days=CHANGE_DAY)).date().isoformat(),
        },
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 windows, a 100k-row ingest")
    args = parser.parse_args(argv if argv is not None else [])
    days, ingest_rows = (30, 100_000) if args.quick else (365, 200_000)
    pool = _example("make_data").simulate(60_000, 7).drop(columns=["created"])
    pool = pool[pool["event_timestamp"] < pd.Timestamp("2025-03-01", tz="UTC")].drop(columns=["event_timestamp"])
    model = Model(pool)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mlmon-bench-history-") as tmp:
        root = Path(tmp)
        spec, model_dir = register(root, pool, model)
        days_of = [history(pool, model, d, ingest_rows // 20, seed=3) for d in range(20)]
        sample = pd.concat(days_of, ignore_index=True)
        sample.to_parquet(root / "sqlite.parquet")
        sample.head(20_000).to_parquet(root / "es.parquet")
        from mlmon.store.sqlite import SQLiteStore

        sqlite = SQLiteStore(root / "ingest.db", spec)
        rows.append(ingest_rate(spec, sqlite, root / "sqlite.parquet", "sqlite"))
        sqlite.close()
        rows.append(_es_rate(spec, root / "es.parquet"))
        rows += backtest_time(spec, root, model_dir, pool, model, days, 10_000)
    record(
        "backtest",
        {
            "description": "mlmon ingest rate (SQLite, ES-API server) and mlmon backtest time over daily windows",
            "reference": "ingest: the store's own write_events + upsert_labels of prebuilt events; backtest: "
            "read_window of every window's rows (pulling the rows, before any computation)",
            "rows": rows,
            "notes": [
                "ingest: parquet read, per-row conversion and validation, PII, write_events, upsert_labels; "
                "excludes process start-up",
                "backtest: per window the live statistics job and drift job (binned counts pushed down, "
                "MLMON_EXACT_KS_MAX_ROWS=0) and the incident policy; report rendering timed apart",
                f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                "(other processes share the machine)",
            ],
        },
    )


def _es_rate(spec: ModelSpec, path: Path) -> dict[str, Any]:
    from osmem_server import OsmemServer

    from mlmon.store.elasticsearch import ElasticsearchStore

    server = OsmemServer.start(startup_timeout=30.0)
    try:
        store = ElasticsearchStore(server.url, spec)
        try:
            return ingest_rate(spec, store, path, "es-api (osmem)")
        finally:
            store.close()
    finally:
        server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
