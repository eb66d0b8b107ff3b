"""``monitor(app)`` on a team's own FastAPI app (its own route, its own request model, its own model object):
one call gives metrics, a durable inference log into a real SQLite store, and ``/feedback``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from mlmon.errors import ConfigError
from mlmon.instrument import monitor
from mlmon.instrument.monitor import Monitor
from mlmon.settings import ModelServerSettings
from mlmon.store.base import TimeWindow
from mlmon.store.fields import DocField
from mlmon.store.sqlite import SQLiteStore
from tests.fixtures.tiny_model import TinyModel, write_tiny_model

TOKEN = "own-app-token"


class Score(BaseModel):
    x: float
    temperature: float | None = None
    store_id: str | None = None
    flag: bool | None = None


def own_app(tiny: TinyModel, settings: ModelServerSettings, registry: CollectorRegistry) -> tuple[FastAPI, Monitor]:
    app = FastAPI()
    mon = monitor(app, settings=settings, registry=registry)
    model = joblib.load(tiny.model_dir / "tiny0001" / "model.joblib")

    @app.post("/v1/score")
    def score(req: Score) -> dict[str, Any]:
        row = req.model_dump()
        frame = pd.DataFrame([row]).astype({"store_id": object, "flag": object})
        probability = float(model.predict_proba(frame)[0, 1])
        label = "yes" if probability >= 0.5 else "no"
        [prediction_id] = mon.record([row], [label], scores=[probability])
        return {"prediction_id": prediction_id, "label": label}

    return app, mon


@pytest.fixture
def tiny(tmp_path: Path) -> TinyModel:
    return write_tiny_model(tmp_path / "models")


def settings_for(tiny: TinyModel, tmp_path: Path, **overrides: Any) -> ModelServerSettings:
    values: dict[str, Any] = {
        "store": f"sqlite:///{tmp_path / 'events.db'}",
        "model_spec": tiny.spec_path,
        "model_path": tiny.model_dir,
        "var_dir": tmp_path / "var",
        "feedback_token": TOKEN,
        "pii_hash_key": "unit-test-pii-key-0123456789",
        "flush_interval_s": 0.05,
    }
    return ModelServerSettings(_env_file=None, **(values | overrides))


@pytest.fixture
def running(tiny: TinyModel, tmp_path: Path) -> Iterator[tuple[TestClient, Monitor, CollectorRegistry]]:
    registry = CollectorRegistry()
    app, mon = own_app(tiny, settings_for(tiny, tmp_path), registry)
    with TestClient(app) as client:
        yield client, mon, registry


def test_one_call_counts_logs_and_takes_feedback(
    running: tuple[TestClient, Monitor, CollectorRegistry], tmp_path: Path
) -> None:
    client, mon, registry = running
    ids = [
        client.post("/v1/score", json={"x": float(i), "store_id": "a", "flag": True}).json()["prediction_id"]
        for i in range(20)
    ]
    assert len(set(ids)) == 20
    labels = {"model": "tiny", "model_version": "tiny0001"}
    assert registry.get_sample_value("mlmon_requests_total", {**labels, "endpoint": "/v1/score", "status": "200"}) == 20
    assert registry.get_sample_value("mlmon_responses_total", {**labels, "kind": "ok"}) == 20
    assert registry.get_sample_value("mlmon_feature_missing_total", {**labels, "feature": "temperature"}) == 20
    assert mon.log is not None and mon.log.flush(10)
    store = SQLiteStore(tmp_path / "events.db", mon.spec)
    frame = store.read_window(TimeWindow.last(3600))
    assert sorted(frame["prediction_id"]) == sorted(ids)
    assert set(frame["flag"]) == {"true"} and frame[DocField.LATENCY_MS].gt(0).all()
    assert frame[DocField.SCORE].between(0, 1).all()
    answer = client.post(
        "/feedback",
        json=[{"prediction_id": pid, "label": "yes"} for pid in ids[:5]],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200 and answer.json()["written"] == 5
    assert client.post("/feedback", json={"prediction_id": ids[0], "label": "yes"}).status_code == 401
    assert mon.status().store == "ok" and client.get("/metrics").status_code == 200
    store.close()


def test_a_full_log_answers_503_in_the_shared_error_shape(tiny: TinyModel, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    down = f"sqlite:///{tmp_path / 'not-a-dir' / 'x.db'}"  # a file where a folder must be: cannot open
    (tmp_path / "not-a-dir").write_text("")
    settings = settings_for(
        tiny, tmp_path, store=down, log_max_bytes=4096, log_segment_bytes=1024, log_close_timeout_s=0.5
    )
    app, _mon = own_app(tiny, settings, registry)
    with TestClient(app) as client:
        statuses = [client.post("/v1/score", json={"x": 1.0}).status_code for _ in range(60)]
        assert 200 in statuses and 503 in statuses  # the store is down: the log fills up, then refuses
        body = client.post("/v1/score", json={"x": 1.0}).json()
        assert body["error"] == "inference_log_full" and body["message"]


def test_without_a_registered_version_the_call_says_what_to_do(tmp_path: Path) -> None:
    tiny = write_tiny_model(tmp_path / "models")
    settings = settings_for(tiny, tmp_path, model_path=tmp_path / "nothing")
    with pytest.raises(ConfigError, match="no registered version of tiny") as info:
        monitor(FastAPI(), settings=settings)
    assert "mlmon register" in str(info.value)


def test_record_takes_event_times_within_the_skew(tiny: TinyModel, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    app = FastAPI()
    mon = monitor(app, settings=settings_for(tiny, tmp_path), registry=registry)

    @app.post("/v1/score")
    def score(body: dict[str, Any]) -> dict[str, Any]:
        [prediction_id] = mon.record([{"x": 1.0}], ["yes"], scores=[0.7], event_times=[body.get("at")])
        return {"prediction_id": prediction_id}

    earlier = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    with TestClient(app) as client:
        dated = client.post("/v1/score", json={"at": earlier.isoformat()}).json()["prediction_id"]
        undated = client.post("/v1/score", json={"at": None}).json()["prediction_id"]
        refused = client.post("/v1/score", json={"at": (earlier - timedelta(days=3)).isoformat()})
        assert refused.status_code == 422 and refused.json()["field"] == "event_times[0]"
        assert "MLMON_EVENT_TIME_MAX_PAST_S" in refused.json()["reason"]
        assert mon.log is not None and mon.log.flush(10)
    labels = {"model": "tiny", "model_version": "tiny0001", "kind": "ok"}
    assert registry.get_sample_value("mlmon_responses_total", labels) == 2  # the refused one was not counted
    store = SQLiteStore(tmp_path / "events.db", mon.spec)
    frame = store.read_window(TimeWindow.last(5 * 3600)).set_index("prediction_id")
    store.close()
    assert sorted(frame.index) == sorted([dated, undated])
    assert frame.loc[dated, "timestamp"] == earlier
    assert frame.loc[dated, DocField.RECEIVED_AT] > earlier + timedelta(hours=1)
    assert frame.loc[undated, "timestamp"] == frame.loc[undated, DocField.RECEIVED_AT]
