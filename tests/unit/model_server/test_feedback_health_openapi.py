from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from mlmon.registry.serving import LoadedModel
from model_server.schemas import example_instance
from tests.conftest import require_binary
from tests.unit.model_server.conftest import TOKEN, Server

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


def _labels(server: Server) -> list[tuple[Any, ...]]:
    server.store.ensure_schema()
    with sqlite3.connect(server.store.path) as conn:
        return conn.execute("SELECT prediction_id, label FROM labels_loan_default ORDER BY prediction_id").fetchall()


def _predict(server: Server, small_model: LoadedModel, n: int = 2) -> list[str]:
    body = {"instances": [example_instance(small_model.spec)] * n}
    ids = [p["prediction_id"] for p in server.client.post("/predict", json=body).json()["predictions"]]
    server.flush()
    return ids


def test_feedback_writes_replaces_and_reports_unknown(server: Server, small_model: LoadedModel) -> None:
    a, b = _predict(server, small_model)
    first = server.client.post("/feedback", json={"prediction_id": a, "label": "default"}, headers=AUTH)
    assert first.status_code == 200
    assert first.json() == {"written": 1, "replaced": 0, "unknown": 0, "unknown_ids": []}
    batch = [
        {"prediction_id": a, "label": "no_default", "observed_at": "2026-01-15T10:00:00Z"},
        {"prediction_id": b, "label": 1},  # 1/0 mean positive/negative for a two-class model
        {"prediction_id": "f" * 32, "label": "default"},
    ]
    second = server.client.post("/feedback", json=batch, headers=AUTH).json()
    assert second == {"written": 2, "replaced": 1, "unknown": 1, "unknown_ids": ["f" * 32]}
    assert _labels(server) == sorted([(a, "no_default"), (b, "default")])
    assert server.sample("mlmon_requests_total", endpoint="/feedback", status="200") == 2


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_feedback_without_the_right_token_is_401_and_writes_nothing(
    server: Server, small_model: LoadedModel, headers: dict[str, str]
) -> None:
    (a, _) = _predict(server, small_model)
    response = server.client.post("/feedback", json={"prediction_id": a, "label": "default"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _labels(server) == []
    assert server.sample("mlmon_requests_total", endpoint="/feedback", status="401") == 1


def test_feedback_disabled_without_a_token(make_server: Callable[..., Server]) -> None:
    server = make_server(feedback_token=None)
    response = server.client.post("/feedback", json={"prediction_id": "x", "label": "default"}, headers=AUTH)
    assert response.status_code == 503
    assert "MLMON_FEEDBACK_TOKEN" in response.json()["hint"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"prediction_id": "x", "label": "maybe"}, "label", "not one of the classes"),
        ({"prediction_id": "x", "label": 0.5}, "label", "must be one of the classes"),
        ({"prediction_id": "x", "label": "default", "observed_at": "yesterday"}, "observed_at", "ISO 8601"),
        ({"label": "default"}, "prediction_id", "required"),
        ({"prediction_id": "x", "label": "default", "extra": 1}, "extra", "unknown field"),
        ([{"prediction_id": "x", "label": "default"}, {"prediction_id": "y", "label": "?"}], "[1].label", "classes"),
        ([], "body", "empty"),
    ],
)
def test_bad_feedback_is_422_with_the_field(server: Server, body: Any, field: str, reason: str) -> None:
    response = server.client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["field"] == field and reason in response.json()["reason"]
    assert _labels(server) == []


def test_health_and_readiness(server: Server) -> None:
    assert server.client.get("/healthz").json() == {"status": "alive"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["model"] == {"name": "loan_default", "version": "unit0001"}
    assert body["store"] == "ok" and body["status"] == "ready" and body["store_reason"] is None
    log = body["log"]
    assert log["max_bytes"] == 256 * 1024 * 1024 and log["lag_events"] == 0 and not log["full"]
    assert log["dead_letter_file"].endswith("dead-letter.jsonl") and log["write_error"] is None
    assert set(body["events"]) == {"stored", "spooled", "dropped", "refused", "dead_lettered"}


def test_a_log_that_cannot_be_created_makes_the_server_not_ready_and_predict_503(
    make_server: Callable[..., Server], small_model: LoadedModel, tmp_path: Any
) -> None:
    not_a_dir = tmp_path / "occupied"
    not_a_dir.write_text("a file where the log directory should be")
    server = make_server(log_dir=not_a_dir)
    ready = server.client.get("/readyz")
    assert ready.status_code == 503 and "cannot create the inference log" in ready.json()["reason"]
    response = server.client.post("/predict", json=example_instance(small_model.spec))
    assert response.status_code == 503 and response.json()["error"] == "inference_log_unavailable"
    assert response.headers["retry-after"] == "5"


def test_openapi_examples_are_valid_requests(server: Server) -> None:
    spec = server.client.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    for example in [predict["example"], *(e["value"] for e in predict["examples"].values())]:
        assert server.client.post("/predict", json=example).status_code == 200, example
    feedback = spec["paths"]["/feedback"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert server.client.post("/feedback", json=feedback, headers=AUTH).status_code == 200
    assert "/metrics" not in spec["paths"]


def test_metrics_page_passes_promtool(server: Server, small_model: LoadedModel) -> None:
    promtool = require_binary("promtool")
    example = example_instance(small_model.spec)
    server.client.post("/predict", json={"instances": [example, {**example, "channel": "fax"}]})
    server.client.post("/predict", json={**example, "age": "x"})
    server.client.get("/nope")
    server.flush()
    page = server.client.get("/metrics", follow_redirects=False)
    assert page.status_code == 200
    for name in (
        "mlmon_requests_total",
        "mlmon_request_duration_seconds_bucket",
        "mlmon_requests_in_flight",
        "mlmon_prediction_bucket",
        "mlmon_predicted_class_total",
        "mlmon_nonfinite_predictions_total",
        "mlmon_responses_total",
        "mlmon_feature_missing_total",
        "mlmon_feature_out_of_range_total",
        "mlmon_feature_category_total",
        "mlmon_inference_events_total",
        "mlmon_inference_queue_depth",
        "mlmon_inference_log_bytes",
        "mlmon_inference_log_fill_ratio",
        "mlmon_inference_log_oldest_unshipped_age_seconds",
        "mlmon_backend_errors_total",
    ):
        assert f"\n{name}{{" in page.text, name
    result = subprocess.run([promtool, "check", "metrics"], input=page.content, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
