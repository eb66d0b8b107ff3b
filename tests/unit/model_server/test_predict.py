from __future__ import annotations

import json
import math
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlmon.registry.scoring import Scored
from mlmon.registry.serving import LoadedModel
from mlmon.store.base import OTHER, TimeWindow
from model_server.schemas import example_instance
from tests.unit.model_server.conftest import Server

WINDOW = TimeWindow(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
def example(small_model: LoadedModel) -> dict[str, Any]:
    return {**example_instance(small_model.spec), "postcode": "1011AB"}


def _stored(server: Server) -> pd.DataFrame:
    server.flush()
    return server.store.read_window(WINDOW)


def test_one_prediction_is_answered_counted_and_logged(
    server: Server, example: dict[str, Any], small_model: LoadedModel
) -> None:
    response = server.client.post("/predict", json=example)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"prediction_id", "prediction", "score", "model_version"}
    assert uuid.UUID(hex=body["prediction_id"]).hex == body["prediction_id"]
    expected = float(small_model.score(pd.DataFrame([example])).scores[0])
    assert body["score"] == pytest.approx(expected)
    assert body["prediction"] == small_model.label_for(expected)
    assert body["model_version"] == "unit0001" and body["kind"] == "ok"

    rows = _stored(server)
    assert list(rows["prediction_id"]) == [body["prediction_id"]]
    row = rows.iloc[0]
    assert row["prediction.score"] == pytest.approx(expected) and row["response.kind"] == "ok"
    assert row["income"] == example["income"] and row["channel"] == example["channel"]
    assert row["has_coborrower"] == "false"  # booleans stored as keywords
    assert row["latency_ms"] > 0
    assert server.sample("mlmon_requests_total", endpoint="/predict", status="200") == 1
    assert server.sample("mlmon_responses_total", kind="ok") == 1
    assert server.sample("mlmon_prediction_count") == 1
    assert server.sample("mlmon_predicted_class_total", **{"class": body["prediction"]}) == 1
    assert server.sample("mlmon_inference_events_total", outcome="stored") == 1


def test_batch(server: Server, example: dict[str, Any]) -> None:
    instances = [example, {**example, "income": 12_000.0, "debt_ratio": None}, {**example, "age": 70}]
    response = server.client.post("/predict", json={"instances": instances})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 3 and len({p["prediction_id"] for p in predictions}) == 3
    rows = _stored(server).set_index("prediction_id")
    assert set(rows.index) == {p["prediction_id"] for p in predictions}
    assert math.isnan(rows.loc[predictions[1]["prediction_id"], "debt_ratio"])
    assert server.sample("mlmon_feature_missing_total", feature="debt_ratio") == 1
    assert server.sample("mlmon_responses_total", kind="ok") == 3


def _nested(example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**example, **changes}


BAD_INPUTS: list[tuple[str, Callable[[dict[str, Any]], bytes], str, str]] = [
    ("malformed json", lambda ex: b'{"income": 1,', "body", "malformed JSON"),
    ("empty body", lambda ex: b"", "body", "empty"),
    ("array body", lambda ex: b"[1, 2]", "body", "JSON object"),
    ("string for number", lambda ex: json.dumps({**ex, "income": "52000"}).encode(), "income", "number"),
    ("NaN literal", lambda ex: json.dumps({**ex, "income": float("nan")}).encode(), "body", "NaN"),
    ("Infinity literal", lambda ex: json.dumps({**ex, "age": float("inf")}).encode(), "body", "Infinity"),
    ("overflowing number", lambda ex: json.dumps(ex).encode().replace(b'"age": 38', b'"age": 1e999'), "age", "finite"),
    (
        "required missing",
        lambda ex: json.dumps({k: v for k, v in ex.items() if k != "loan_amount"}).encode(),
        "loan_amount",
        "missing",
    ),
    ("required null", lambda ex: json.dumps({**ex, "channel": None}).encode(), "channel", "null"),
    ("number for category", lambda ex: json.dumps({**ex, "channel": 3}).encode(), "channel", "string"),
    (
        "string for boolean",
        lambda ex: json.dumps({**ex, "has_coborrower": "yes"}).encode(),
        "has_coborrower",
        "boolean",
    ),
    ("unknown field", lambda ex: json.dumps({**ex, "shoe_size": 44}).encode(), "shoe_size", "unknown field"),
    (
        "bad batch item",
        lambda ex: json.dumps({"instances": [ex, {**ex, "age": "old"}]}).encode(),
        "instances[1].age",
        "number",
    ),
    ("batch not a list", lambda ex: json.dumps({"instances": ex}).encode(), "instances", "list"),
    ("empty batch", lambda ex: json.dumps({"instances": []}).encode(), "instances", "at least one"),
    (
        "batch too large",
        lambda ex: json.dumps({"instances": [ex] * 5}).encode(),
        "instances",
        "exceeds max_batch_size 4",
    ),
]


@pytest.mark.parametrize(("case", "body", "field", "reason"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_counted_and_not_stored(
    make_server: Callable[..., Server],
    example: dict[str, Any],
    case: str,
    body: Callable[[dict[str, Any]], bytes],
    field: str,
    reason: str,
) -> None:
    server = make_server(max_batch_size=4)
    response = server.client.post("/predict", content=body(example), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field
    assert reason in error["reason"]
    assert field in error["message"]
    assert server.sample("mlmon_requests_total", endpoint="/predict", status="422") == 1
    assert server.sample("mlmon_responses_total", kind="ok") == 0
    assert server.sample("mlmon_prediction_count") == 0
    assert _stored(server).empty


def test_unknown_fields_can_be_ignored(make_server: Callable[..., Server], example: dict[str, Any]) -> None:
    server = make_server(unknown_fields="ignore")
    response = server.client.post("/predict", json={**example, "shoe_size": 44})
    assert response.status_code == 200
    rows = _stored(server)
    assert len(rows) == 1 and "shoe_size" not in rows.columns


def test_oversized_bodies_get_413_declared_or_streamed(make_server: Callable[..., Server]) -> None:
    server = make_server(max_body_bytes=2048)
    big = json.dumps({"instances": [{"pad": "x" * 100}] * 30}).encode()
    assert len(big) > 2048
    declared = server.client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["field"] == "body"

    def chunks():  # no Content-Length: the size is only known while streaming
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    streamed = server.client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert server.sample("mlmon_requests_total", endpoint="/predict", status="413") == 2
    assert _stored(server).empty


def test_unseen_category_and_out_of_range_are_served_and_counted(server: Server, example: dict[str, Any]) -> None:
    response = server.client.post("/predict", json={**example, "channel": "carrier_pigeon", "age": 140})
    assert response.status_code == 200
    assert server.sample("mlmon_feature_category_total", feature="channel", category=OTHER) == 1
    assert server.sample("mlmon_feature_out_of_range_total", feature="age") == 1
    assert _stored(server).iloc[0]["channel"] == "carrier_pigeon"


def test_fallback_when_enrichment_inputs_are_missing(
    server: Server, example: dict[str, Any], small_model: LoadedModel
) -> None:
    one_missing = server.client.post("/predict", json={**example, "bureau_score": None}).json()
    assert one_missing["kind"] == "ok"
    both = server.client.post("/predict", json={**example, "bureau_score": None, "open_credit_lines": None}).json()
    assert both["kind"] == "fallback"
    assert both["score"] == pytest.approx(small_model.profile.prediction.mean)
    assert both["prediction"] == small_model.label_for(small_model.profile.prediction.mean)
    assert server.sample("mlmon_responses_total", kind="fallback") == 1
    rows = _stored(server).set_index("prediction_id")
    assert rows.loc[both["prediction_id"], "response.kind"] == "fallback"


def test_declared_empty_rule_empties_the_answer_but_keeps_the_model_score(
    server: Server, example: dict[str, Any], small_model: LoadedModel
) -> None:
    body = server.client.post("/predict", json={**example, "income": None}).json()
    assert body["kind"] == "empty"
    assert body["prediction"] is None and body["score"] is None  # the client gets no offer
    expected = float(small_model.score(pd.DataFrame([{**example, "income": None}])).scores[0])
    assert server.sample("mlmon_responses_total", kind="empty") == 1
    assert server.sample("mlmon_nonfinite_predictions_total") == 0  # the model itself answered
    assert server.sample("mlmon_prediction_count") == 1
    row = _stored(server).set_index("prediction_id").loc[body["prediction_id"]]
    assert row["response.kind"] == "empty"
    assert row["prediction.score"] == pytest.approx(expected)  # what the model said, for output monitoring
    assert row["prediction.label"] == small_model.label_for(expected)


class _FilteringModel(LoadedModel):
    """The real model plus a post-processing step inside it that drops scores for high incomes ("post-processing
    emptied the response")."""

    def score(self, rows: pd.DataFrame) -> Scored:
        scored = super().score(rows)
        return Scored(np.where(rows["income"].to_numpy(dtype=float) > 1_000_000, np.nan, scored.scores), scored.labels)


def test_empty_response_when_the_model_gives_nothing_usable(
    make_server: Callable[..., Server], small_model: LoadedModel, example: dict[str, Any], tmp_path: Any
) -> None:
    filtering = _FilteringModel(small_model.registered, small_model.scorer)
    server = make_server()
    server.app.state.mlmon.predictor.model = filtering
    body = server.client.post("/predict", json={"instances": [example, {**example, "income": 1_500_000}]}).json()
    kinds = [p["kind"] for p in body["predictions"]]
    assert kinds == ["ok", "empty"]
    assert body["predictions"][1]["prediction"] is None and body["predictions"][1]["score"] is None
    assert server.sample("mlmon_nonfinite_predictions_total") == 1
    assert server.sample("mlmon_responses_total", kind="empty") == 1
    rows = _stored(server).set_index("prediction_id")
    assert rows.loc[body["predictions"][1]["prediction_id"], "response.kind"] == "empty"


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_pii_never_reaches_the_store_in_clear(
    make_server: Callable[..., Server], example: dict[str, Any], mode: str, tmp_path: Any
) -> None:
    server = make_server(pii_mode=mode)
    for _ in range(3):
        assert server.client.post("/predict", json={**example, "postcode": "9999ZZ"}).status_code == 200
    rows = _stored(server)
    if mode == "hash":
        assert rows["postcode"].nunique() == 1 and len(rows["postcode"].iloc[0]) == 64
    else:
        assert rows["postcode"].isna().all()
    server.store.close()
    with sqlite3.connect(tmp_path / "events.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "9999ZZ" not in dump
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"9999ZZ" not in path.read_bytes(), path


def test_model_not_loaded_answers_503(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from mlmon.settings import ModelServerSettings
    from model_server import create_app
    from tests.conftest import REPO

    settings = ModelServerSettings(
        store=f"sqlite:///{tmp_path / 'e.db'}",
        var_dir=tmp_path,
        model_path=tmp_path / "no-model",
        model_spec=REPO / "mlmon/demo/loan_default.yaml",
        pii_hash_key="unit-test-pii-key-0123456789",
    )
    with TestClient(create_app(settings, registry=CollectorRegistry())) as client:
        response = client.post("/predict", json=example_instance_from_repo())
        assert response.status_code == 503
        assert response.json()["error"] == "model_not_loaded"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "no registered model" in ready.json()["model"]
        assert client.get("/healthz").status_code == 200


def example_instance_from_repo() -> dict[str, Any]:
    from mlmon.spec import load_spec
    from tests.conftest import REPO

    return example_instance(load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml"))
