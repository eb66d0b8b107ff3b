"""Both monitoring jobs on a model that is not the demo: the shop-sales regression of tests/fixtures/toy.py
(entity store_id, no PII, numeric + boolean + categorical inputs), registered with `mlmon register`, its events
in a real SQLite store and the Elasticsearch-API server: regression metrics against the SLO, and drift of the
input that moved, with the reference's real sample size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from drift_detector.job import build_drift_job
from mlmon.cli import main
from mlmon.registry.serving import LoadedModel, load_model
from mlmon.settings import DriftSettings, StatsSettings
from mlmon.store.base import InferenceEvent, LabelRecord
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.protocols import InferenceStore
from mlmon.store.sqlite import SQLiteStore
from stats_service.evaluation import ALL
from stats_service.job import build_stats_job
from tests.fixtures.toy import ToyProject, fit_toy_model, toy_frame, toy_project

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ToyProject:
    project = toy_project(tmp_path_factory.mktemp("toy"), n=2000)
    model = fit_toy_model(project, project.root / "model.joblib")
    args = ["--spec", str(project.spec_path), "--feast-repo", str(project.repo), "--model-path"]
    args += [str(project.root / "models"), "--model", str(model), "--rows", str(project.rows_path)]
    assert main(["register", *args]) == 0
    return project


@pytest.fixture(scope="module")
def loaded(project: ToyProject) -> LoadedModel:
    return load_model(project.root / "models")


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path, loaded: LoadedModel) -> Any:
    built: InferenceStore
    if request.param == "sqlite":
        built = SQLiteStore(tmp_path / "events.db", loaded.spec)
    else:
        built = ElasticsearchStore(request.getfixturevalue("es_url"), loaded.spec)
    built.ensure_schema()
    yield built
    built.close()


def write_window(
    store: InferenceStore, loaded: LoadedModel, *, n: int, seed: int, footfall_shift: float = 0.0
) -> float:
    """n predictions over the last 20 minutes with their true sales as labels; returns the window's MAE."""
    frame = toy_frame(n, seed, NOW - timedelta(days=1), footfall_shift=footfall_shift)
    predicted = loaded.score(frame).scores
    rng = np.random.default_rng(seed)
    times = [NOW - timedelta(seconds=float(s)) for s in rng.uniform(1, 1200, n)]
    events = []
    labels = []
    for i, row in enumerate(frame.to_dict("records")):
        pid = uuid.uuid4().hex
        events.append(
            InferenceEvent(
                prediction_id=pid,
                timestamp=times[i],
                model_name=loaded.name,
                model_version=loaded.version,
                features={
                    "footfall": row["footfall"],
                    "price_index": row["price_index"],
                    "promo": "true" if row["promo"] else "false",
                    "weather": row["weather"],
                },
                score=float(predicted[i]),
                latency_ms=2.0,
            )
        )
        labels.append(LabelRecord(pid, float(row["sales"]), times[i] + timedelta(seconds=1)))
    assert store.write_events(events).stored == n
    assert store.upsert_labels(labels).written == n
    store.refresh()
    return float(np.mean(np.abs(predicted - frame["sales"].to_numpy())))


def settings_of(cls: type[Any], project: ToyProject, tmp_path: Path, **extra: Any) -> Any:
    values = {
        "model_spec": project.spec_path,
        "model_path": project.root / "models",
        "var_dir": tmp_path / "var",
        **extra,
    }
    return cls(_env_file=None, **values)


def test_stats_job_evaluates_a_regression_against_its_slo(
    project: ToyProject, loaded: LoadedModel, store: InferenceStore, tmp_path: Path
) -> None:
    mae = write_window(store, loaded, n=400, seed=11, footfall_shift=1500.0)  # busier shops: sales under-predicted
    settings = settings_of(StatsSettings, project, tmp_path, windows=["30m"], label_delay_s=0, min_labels=30)
    job = build_stats_job(settings, CollectorRegistry(), store=store)
    run = job.run_once(NOW + timedelta(seconds=1))
    [overall] = [r for r in run.windows[0].evaluation if r.segment == ALL]
    assert overall.status == "ok" and overall.labelled == 400
    assert overall.metrics["mae"] == pytest.approx(mae, rel=1e-6)
    [slo] = run.slos
    assert str(slo.slo) == "mae <= 60" and slo.value == pytest.approx(mae) and slo.breached == (mae > 60)
    assert slo.breached  # the shift makes the model miss by more than its SLO


def test_drift_job_names_the_input_that_moved(
    project: ToyProject, loaded: LoadedModel, store: InferenceStore, tmp_path: Path
) -> None:
    write_window(store, loaded, n=400, seed=12, footfall_shift=1500.0)
    settings = settings_of(DriftSettings, project, tmp_path, window="30m", min_rows=100, consecutive=1)
    job = build_drift_job(settings, CollectorRegistry(), store=store)
    run = job.run_once(NOW + timedelta(seconds=1))
    assert run.status == "ok" and run.rows == 400
    drifted = {c.key for c, _ in run.drifted}
    assert "input:footfall" in drifted and "input:weather" not in drifted
    output = next(c for c in run.checks if c.key == "output:prediction")
    assert output.n_ref == len(pd.read_parquet(loaded.registered.path / "reference.parquet"))
    assert output.n_cur == 400
