"""The traffic sender against a real HTTP server (a small FastAPI app under uvicorn on a loopback port that
records what arrives): rate bound, batching, delayed feedback, errors, early abort; and the file source."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mlmon.errors import ConfigError
from mlmon.replay.sources import FileRows, WhatIf, to_payload
from mlmon.replay.traffic import replay
from mlmon.spec import parse_spec
from tests.conftest import free_port, wait_until

TOKEN = "t0ken"
SPEC = parse_spec(
    {
        "model": "rides",
        "prediction": {"kind": "regression"},
        "label": {"column": "rentals"},
        "features": [{"name": "temperature_c", "type": "numeric"}, {"name": "weather", "type": "categorical"}],
    }
)


class CountingRows:
    """An endless source: row i is {"x": i}, its label is i % 2."""

    name = "counting"

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> tuple[list[dict[str, Any]], list[Any]]:
        rows = [{"x": self.next + i} for i in range(n)]
        self.next += n
        return rows, [r["x"] % 2 for r in rows]

    def rate_at(self, progress: float) -> float:
        return 1.0


def test_payload_is_plain_json() -> None:
    row = {"a": np.float64("nan"), "b": np.int64(3), "c": np.bool_(True), "d": float("nan"), "e": "web", "g": None}
    assert to_payload(row) == {"a": None, "b": 3, "c": True, "d": None, "e": "web", "g": None}


# -- a real HTTP server --------------------------------------------------------------------------------
@dataclass
class Recorder:
    predictions: list[tuple[float, str, int]] = field(default_factory=list)  # (arrival, id, batch size)
    feedback: list[tuple[float, str, Any]] = field(default_factory=list)  # (arrival, id, label)
    rows: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    fail_predict: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def recording_app(rec: Recorder) -> FastAPI:
    app = FastAPI()

    async def predict(request: Request) -> Any:
        body = await request.json()
        if rec.fail_predict:
            return JSONResponse({"detail": "down"}, status_code=500)
        rows = body.get("instances", [body])
        now = time.monotonic()
        answers = []
        with rec.lock:
            for row in rows:
                pid = uuid.uuid4().hex
                rec.predictions.append((now, pid, len(rows)))
                rec.rows.append(row)
                answers.append({"prediction_id": pid, "prediction": 1.0, "kind": "ok"})
        return answers[0] if "instances" not in body else {"predictions": answers}

    app.add_api_route("/predict", predict, methods=["POST"])
    app.add_api_route("/v1/rides", predict, methods=["POST"])

    @app.post("/feedback")
    async def feedback(request: Request) -> Any:
        items = await request.json()
        now = time.monotonic()
        with rec.lock:
            rec.auth.append(request.headers.get("authorization"))
            rec.feedback += [(now, item["prediction_id"], item["label"]) for item in items]
        return {"accepted": len(items)}

    return app


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    port = free_port()
    config = uvicorn.Config(recording_app(rec), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, 15, "uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}", rec
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_rate_bound_batching_and_delayed_feedback(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rate, duration, delay = 100.0, 2.0, 0.5
    stats = replay(url, CountingRows(), rate=rate, duration=duration, feedback_token=TOKEN, feedback_delay=delay)
    assert stats.errors == 0 and 0 < stats.sent <= rate * duration
    assert len(rec.predictions) == stats.sent
    # Several rows are due every 100 ms tick at 100 rows/s: they travel as one batch request.
    assert stats.requests < stats.sent and max(size for _, _, size in rec.predictions) > 1
    # Feedback: every prediction's label, never before the delay, with the token, in the source's order.
    sent_at = {pid: at for at, pid, _ in rec.predictions}
    assert {pid for _, pid, _ in rec.feedback} == set(sent_at)
    assert min(at - sent_at[pid] for at, pid, _ in rec.feedback) >= delay - 0.05
    assert set(rec.auth) == {f"Bearer {TOKEN}"}
    order = {pid: i for i, (_, pid, _) in enumerate(rec.predictions)}
    labels = [label for _, _, label in sorted(rec.feedback, key=lambda f: order[f[1]])]
    assert labels == [i % 2 for i in range(stats.sent)]


def test_batches_are_split_at_max_batch_and_single_objects_at_one(server: tuple[str, Recorder]) -> None:
    url, rec = server
    replay(url, CountingRows(), rate=400, duration=0.5, send_feedback=False, max_batch=16)
    assert max(size for _, _, size in rec.predictions) <= 16
    rec.predictions.clear()
    stats = replay(url, CountingRows(), rate=100, duration=0.5, send_feedback=False, max_batch=1, route="/v1/rides")
    assert stats.sent > 0 and {size for _, _, size in rec.predictions} == {1}


def test_stop_event_ends_the_replay_early(server: tuple[str, Recorder]) -> None:
    url, _ = server
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    try:
        stats = replay(url, CountingRows(), rate=50, duration=30.0, stop=stop, feedback_delay=5.0)
    finally:
        timer.cancel()
    assert 0 < stats.sent < 50 * 30


def test_server_errors_are_counted_and_abort_with_the_first_error(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.fail_predict = True
    stats = replay(url, CountingRows(), rate=400, duration=5.0, send_feedback=False, max_batch=1, max_error_share=0.05)
    assert stats.sent == 0 and stats.errors > 0 and stats.statuses[500] > 0
    assert stats.aborted and stats.first_error is not None and "500" in stats.first_error


def test_unreachable_server_is_counted_and_bounded() -> None:
    stats = replay(f"http://127.0.0.1:{free_port()}", CountingRows(), rate=20, duration=0.5, send_feedback=False)
    assert stats.sent == 0 and stats.errors > 0 and "ConnectError" in str(stats.first_error)


def test_invalid_arguments_are_refused() -> None:
    for kwargs in ({"rate": 0, "duration": 1}, {"rate": 1, "duration": -1}, {"rate": 1, "duration": 1, "max_batch": 0}):
        with pytest.raises(ValueError):
            replay("http://127.0.0.1:9", CountingRows(), **kwargs)  # type: ignore[arg-type]


# -- the file source -----------------------------------------------------------------------------------
def write_rides(path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "station_id": [1, 2, 3],
            "temperature_c": [10.0, np.nan, 20.0],
            "weather": ["rain", None, "clear"],
            "rentals": [4.0, 8.0, 15.0],
        }
    )
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["rides.parquet", "rides.csv"])
def test_file_rows_keep_the_spec_features_apply_what_ifs_and_end(tmp_path: Path, name: str) -> None:
    rows = FileRows(
        write_rides(tmp_path / name),
        spec=SPEC,
        label_column="rentals",
        what_ifs=[WhatIf.parse("temperature_c=8", "shift")],
    )
    batch, labels = rows.take(5)
    assert batch == [
        {"temperature_c": 18.0, "weather": "rain"},
        {"temperature_c": None, "weather": None},
        {"temperature_c": 28.0, "weather": "clear"},
    ]
    assert labels == [4.0, 8.0, 15.0] and rows.take(1) == ([], [])


def test_file_rows_loop_and_scale(tmp_path: Path) -> None:
    rows = FileRows(
        write_rides(tmp_path / "r.parquet"),
        spec=SPEC,
        what_ifs=[WhatIf.parse("temperature_c=1000", "scale")],
        loop=True,
    )
    batch, labels = rows.take(4)
    assert [r["temperature_c"] for r in batch] == [10000.0, None, 20000.0, 10000.0] and labels == [None] * 4


def test_file_source_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    path = write_rides(tmp_path / "r.parquet")
    with pytest.raises(ConfigError, match="label column 'truth' is not in the file"):
        FileRows(path, spec=SPEC, label_column="truth")
    with pytest.raises(ConfigError, match="--shift column 'humidity' is not in the file"):
        FileRows(path, spec=SPEC, what_ifs=[WhatIf.parse("humidity=3", "shift")])
    with pytest.raises(ConfigError, match="COLUMN=NUMBER"):
        WhatIf.parse("temperature_c", "shift")
    with pytest.raises(ConfigError, match="not found"):
        FileRows(tmp_path / "missing.parquet")
