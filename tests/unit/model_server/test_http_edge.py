"""The HTTP edge refuses what the store or pandas could not hold, with one clear 4xx naming the field — never a
5xx — and keeps what it echoes bounded."""

from __future__ import annotations

import inspect
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

import mlmon.errors as errors
from mlmon.registry.serving import LoadedModel
from model_server.schemas import example_instance
from tests.unit.model_server.conftest import TOKEN, LiveServer, Server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
HUGE = "9" * 5000  # past Python's 4300-digit int-string limit
BIG = "9" * 400  # an int a float cannot hold


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
def example(small_model: LoadedModel) -> dict[str, Any]:
    return example_instance(small_model.spec)


def _raw(example: dict[str, Any], **raw: str) -> bytes:
    """``example`` as JSON with some values replaced by raw JSON text."""
    body = json.dumps({k: v for k, v in example.items() if k not in raw})
    extra = ", ".join(f'"{k}": {v}' for k, v in raw.items())
    return (body[:-1] + ", " + extra + "}").encode()


PREDICT_CASES: list[tuple[str, Callable[[dict[str, Any]], bytes], str, str]] = [
    ("lone surrogate value", lambda ex: _raw(ex, region='"\\ud800"'), "region", "lone surrogate"),
    ("lone low surrogate", lambda ex: _raw(ex, region='"ok\\uDC00"'), "region", "lone surrogate"),
    ("lone surrogate key", lambda ex: _raw(ex, **{"\\ud83d": "1"}), "\\ud83d", "lone surrogate"),
    (
        "surrogate in a batch",
        lambda ex: json.dumps({"instances": [ex, {**ex, "region": "@@"}]}).replace("@@", "\\udfff").encode(),
        "instances[1].region",
        "lone surrogate",
    ),
    ("integer over the int-string limit", lambda ex: _raw(ex, income=HUGE), "income", "5000 digits"),
    ("negative huge integer", lambda ex: _raw(ex, age="-" + HUGE), "age", "too large"),
    ("integer too large for a float", lambda ex: _raw(ex, income=BIG), "income", "finite"),
    (
        "duplicate key",
        lambda ex: _raw(ex, income="1", **{"income ": "2"}).replace(b'"income "', b'"income"'),
        "income",
        "duplicate",
    ),
]


@pytest.mark.parametrize(("case", "body", "field", "reason"), PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES])
def test_predict_refuses_bad_json_with_the_field(
    server: Server, example: dict[str, Any], case: str, body: Callable[[dict[str, Any]], bytes], field: str, reason: str
) -> None:
    response = server.client.post("/predict", content=body(example), headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_input"
    assert error["field"] == field and reason in error["reason"], error
    assert server.sample("mlmon_requests_total", endpoint="/predict", status="422") == 1
    assert server.sample("mlmon_prediction_count") == 0


def test_a_valid_surrogate_pair_is_a_character_not_an_error(server: Server, example: dict[str, Any]) -> None:
    response = server.client.post("/predict", content=_raw(example, region='"\\ud83d\\ude00"'), headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("observed_at", "reason"),
    [
        ("0001-01-01T00:00:00+14:00", "outside the supported range"),
        ("9999-12-31T23:59:59", "outside the supported range"),
        ("2300-01-01Z", "outside the supported range"),
        ("1500-01-01Z", "outside the supported range"),
        ("9999-12-31T23:59:59-14:00", "outside the supported range"),
        ("2026-13-01T00:00:00Z", "ISO 8601"),
    ],
)
def test_feedback_times_outside_what_the_store_holds_are_422(server: Server, observed_at: str, reason: str) -> None:
    body = {"prediction_id": "abc", "label": "default", "observed_at": observed_at}
    response = server.client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "observed_at" and reason in response.json()["reason"]


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (f'{{"prediction_id": "abc", "label": {HUGE}}}', "label", "too large"),
        (
            f'[{{"prediction_id": "abc", "label": "default"}}, {{"prediction_id": "b", "label": {HUGE}}}]',
            "[1].label",
            "too large",
        ),
        ('{"prediction_id": "abc", "label": "\\ud800"}', "label", "lone surrogate"),
        ('{"prediction_id": "abc", "prediction_id": "abd", "label": "default"}', "prediction_id", "duplicate"),
    ],
)
def test_feedback_refuses_bad_json_with_the_field(server: Server, raw: str, field: str, reason: str) -> None:
    response = server.client.post("/feedback", content=raw.encode(), headers={**AUTH, **JSON})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and reason in response.json()["reason"]


def test_openapi_says_observed_at_is_a_date_time(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()
    body = schema["paths"]["/feedback"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    observed = body["oneOf"][0]["properties"]["observed_at"]
    assert {"type": "string", "format": "date-time"} in observed["anyOf"]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"],
)
@pytest.mark.parametrize("path", ["/predict", "/feedback"])
def test_non_json_content_types_get_415(
    server: Server, example: dict[str, Any], path: str, content_type: str | None
) -> None:
    body = json.dumps(example if path == "/predict" else {"prediction_id": "a", "label": "default"}).encode()
    headers = {**AUTH, **({"content-type": content_type} if content_type else {})}
    response = server.client.post(path, content=body, headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()
    assert error["error"] == "unsupported_media_type" and error["field"] == "content-type"
    assert "application/json" in error["reason"]
    assert server.sample("mlmon_requests_total", endpoint=path, status="415") == 1


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"]
)
def test_json_content_types_are_read(server: Server, example: dict[str, Any], content_type: str) -> None:
    response = server.client.post(
        "/predict", content=json.dumps(example).encode(), headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


def test_user_strings_are_echoed_bounded_and_once(server: Server, example: dict[str, Any]) -> None:
    name = "n" * 200_000
    response = server.client.post("/predict", json={**example, name: 1})
    assert response.status_code == 422
    assert len(response.content) < 1000, len(response.content)
    error = response.json()
    assert error["field"].startswith("nnnn") and "200000 chars" in error["field"]
    assert response.text.count("n" * 80) == 1 and "n" * 81 not in response.text  # cut, once, not in the message
    label = server.client.post("/feedback", json={"prediction_id": "a", "label": "x" * 100_000}, headers=AUTH)
    assert label.status_code == 422 and len(label.content) < 1000


def test_413_uses_the_shared_error_shape(make_server: Callable[..., Server]) -> None:
    server = make_server(max_body_bytes=2048)
    response = server.client.post("/predict", content=b"[" + b"1," * 3000 + b"1]", headers=JSON)
    assert response.status_code == 413
    error = response.json()
    assert error["error"] == "payload_too_large" and error["field"] == "body"
    assert "2048" in error["reason"] and error["message"].startswith("body: ")


def test_every_error_class_names_its_own_code() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MlmonError)]
    assert len(classes) >= 15
    codes = [c.__dict__.get("code") for c in classes]
    assert all(isinstance(code, str) for code in codes), [c.__name__ for c in classes if "code" not in c.__dict__]
    assert len(set(codes)) == len(codes)


def _http_request(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head.encode())
    return sock


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("trickle", [False, True])
def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_is_closed(
    live_server: Callable[..., LiveServer], trickle: bool
) -> None:
    server = live_server(body_timeout_s=0.5)
    head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    sock = _http_request(server.port, head)
    sock.settimeout(0.05 if trickle else 20)
    answered = b""
    sent = 0
    for _ in range(2000):  # bounded: the server must answer long before the body is complete
        if trickle:
            sock.sendall(b" ")
            sent += 1
        try:
            answered = sock.recv(65536)
            break
        except TimeoutError:
            continue
    sock.settimeout(20)
    answered += _read_response(sock)  # the server closes the connection after its answer
    sock.close()
    assert answered.startswith(b"HTTP/1.1 408"), answered[:200]
    body = json.loads(answered.split(b"\r\n\r\n", 1)[1])
    assert body["error"] == "request_timeout" and body["field"] == "body"
    assert sent < 100_000
