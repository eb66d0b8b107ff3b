"""Event time on the HTTP edge: ``event_time`` per instance is stored as the event's time (windows are cut on it),
the server's clock as ``received_at``; outside the configured skew it is a 422 naming the field, and nothing of
the request is logged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlmon.registry.serving import LoadedModel
from mlmon.store.base import TimeWindow
from mlmon.store.fields import DocField
from model_server.schemas import example_instance
from tests.unit.model_server.conftest import Server

WIDE = TimeWindow(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture
def example(small_model: LoadedModel) -> dict[str, Any]:
    return example_instance(small_model.spec)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_event_time_is_the_stored_time_and_the_server_time_is_kept(
    make_server: Callable[..., Server], example: dict[str, Any]
) -> None:
    server = make_server()
    before = datetime.now(UTC)
    event_time = (before - timedelta(hours=3)).replace(microsecond=0)
    instances = [{**example, "event_time": _iso(event_time)}, example]
    response = server.client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    ids = [p["prediction_id"] for p in response.json()["predictions"]]
    server.flush()
    rows = server.store.read_window(WIDE).set_index("prediction_id")
    dated, undated = rows.loc[ids[0]], rows.loc[ids[1]]
    assert dated["timestamp"] == event_time
    assert dated[DocField.RECEIVED_AT] >= before - timedelta(milliseconds=1)
    assert undated["timestamp"] == undated[DocField.RECEIVED_AT] >= before - timedelta(milliseconds=1)
    # Windows are cut on the event time: the dated event is in the hour it happened, not in the last minute.
    hour = TimeWindow(event_time - timedelta(minutes=1), event_time + timedelta(minutes=1))
    assert list(server.store.read_window(hour)["prediction_id"]) == [ids[0]]


def test_an_offset_other_than_utc_is_converted(make_server: Callable[..., Server], example: dict[str, Any]) -> None:
    server = make_server()
    local = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0).astimezone()
    text = local.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    plus_two = (local.astimezone(UTC) + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    for value in (text, plus_two):
        response = server.client.post("/predict", json={**example, "event_time": value})
        assert response.status_code == 200, response.text
    server.flush()
    stamps = set(server.store.read_window(WIDE)["timestamp"])
    assert stamps == {local.astimezone(UTC)}


@pytest.mark.parametrize(
    ("shift", "reason"),
    [
        (timedelta(days=2), "before the server's clock; at most 1 d is accepted (MLMON_EVENT_TIME_MAX_PAST_S"),
        (-timedelta(hours=1), "after the server's clock; at most 5 min is accepted (MLMON_EVENT_TIME_MAX_FUTURE_S"),
    ],
)
def test_out_of_skew_is_422_naming_the_instance_and_nothing_is_logged(
    make_server: Callable[..., Server], example: dict[str, Any], shift: timedelta, reason: str
) -> None:
    server = make_server()
    bad = _iso(datetime.now(UTC) - shift)
    instances = [example, {**example, "event_time": bad}]
    response = server.client.post("/predict", json={"instances": instances})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == "instances[1].event_time"
    assert reason in error["reason"]
    server.flush()
    assert server.store.count(WIDE) == 0
    assert server.sample("mlmon_responses_total", kind="ok") == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-28T09:15:00", "needs a UTC offset"),
        ("yesterday", "not an ISO 8601 time"),
        (1764321300, "Input should be a valid string"),
    ],
)
def test_a_malformed_event_time_is_422(
    make_server: Callable[..., Server], example: dict[str, Any], value: Any, reason: str
) -> None:
    server = make_server()
    response = server.client.post("/predict", json={**example, "event_time": value})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "event_time"
    assert reason in response.json()["reason"]


def test_the_skew_is_configurable(make_server: Callable[..., Server], example: dict[str, Any]) -> None:
    server = make_server(event_time_max_past_s=7 * 86400, event_time_max_future_s=0)
    three_days = _iso(datetime.now(UTC) - timedelta(days=3))
    assert server.client.post("/predict", json={**example, "event_time": three_days}).status_code == 200
    soon = _iso(datetime.now(UTC) + timedelta(seconds=30))
    response = server.client.post("/predict", json={**example, "event_time": soon})
    assert response.status_code == 422 and "at most 0 s is accepted" in response.json()["reason"]


def test_openapi_names_the_field(make_server: Callable[..., Server]) -> None:
    schema = make_server().client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    instance = body["oneOf"][0]
    prop = instance["properties"]["event_time"]
    assert "event_time" not in instance.get("required", [])
    assert "ISO 8601" in prop["description"] and "MLMON_EVENT_TIME_MAX_PAST_S" in prop["description"]
    assert any(option.get("format") == "date-time" for option in prop.get("anyOf", [prop]))
