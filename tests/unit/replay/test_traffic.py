"""The traffic generator: deterministic rows for a seed, rate and duration bounds, batching, delayed feedback.

The HTTP tests run the generator against a real server: a small FastAPI app under uvicorn on a free loopback
port that records what arrives and when.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mlmon.replay.scenarios import get_scenario
from mlmon.replay.traffic import ScenarioRows, replay, scenario_frame, to_payload
from tests.conftest import free_port

TOKEN = "t0ken"


# -- rows ----------------------------------------------------------------------------------------------
def test_same_seed_same_rows_and_labels() -> None:
    a, labels_a = scenario_frame(get_scenario("baseline"), 500, seed=4)
    b, labels_b = scenario_frame(get_scenario("baseline"), 500, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert labels_a == labels_b
    c, labels_c = scenario_frame(get_scenario("baseline"), 500, seed=5)
    assert not a.equals(c) and labels_a != labels_c


def test_rows_do_not_depend_on_how_they_are_taken() -> None:
    """Batch sizes follow the clock; the i-th row must not."""
    scenario = get_scenario("fill-rate-drop")
    whole = ScenarioRows(scenario, 9, total=1000).take(700)
    stream = ScenarioRows(scenario, 9, total=1000)
    parts: tuple[list[dict[str, Any]], list[str]] = ([], [])
    for n in (1, 7, 250, 3, 439):
        rows, labels = stream.take(n)
        parts[0].extend(rows)
        parts[1].extend(labels)
    assert parts[0] == whole[0] and parts[1] == whole[1]


def test_labels_are_plausible_ground_truth() -> None:
    _, labels = scenario_frame(get_scenario("baseline"), 4000, seed=2)
    share = labels.count("default") / len(labels)
    assert set(labels) == {"default", "no_default"}
    assert 0.05 < share < 0.35


def test_progress_follows_the_row_position() -> None:
    """gradual-drift ramps with the row's place in the planned total: early rows near ×1, late near ×2.5."""
    total = 4000
    drifted, _ = scenario_frame(get_scenario("gradual-drift"), total, seed=3, total=total)
    plain, _ = scenario_frame(get_scenario("baseline"), total, seed=3, total=total)
    ratio = drifted["loan_amount"] / plain["loan_amount"]
    assert ratio.iloc[:200].median() == pytest.approx(1.0 + 1.5 * 100 / total, rel=0.01)
    assert ratio.iloc[-200:].median() == pytest.approx(1.0 + 1.5 * (total - 100) / total, rel=0.01)
    assert ratio.is_monotonic_increasing or (ratio.diff().dropna() >= -1e-9).mean() > 0.99


def test_payload_is_plain_json() -> None:
    row = {
        "a": np.float64("nan"),
        "b": np.int64(3),
        "c": np.bool_(True),
        "d": float("nan"),
        "e": "web",
        "f": np.float32(1.5),
        "g": None,
    }
    assert to_payload(row) == {"a": None, "b": 3, "c": True, "d": None, "e": "web", "f": 1.5, "g": None}


# -- a real HTTP server --------------------------------------------------------------------------------
@dataclass
class Recorder:
    predictions: list[tuple[float, str, int]] = field(default_factory=list)  # (arrival, id, batch size)
    feedback: list[tuple[float, str, str]] = field(default_factory=list)  # (arrival, id, label)
    rows: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    fail_predict: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def recording_app(rec: Recorder) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
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
                answers.append(
                    {
                        "prediction_id": pid,
                        "prediction": "no_default",
                        "score": 0.1,
                        "kind": "fallback" if row.get("bureau_score") is None else "ok",
                        "model_version": "v",
                    }
                )
        return answers[0] if "instances" not in body else {"predictions": answers}

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
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", rec
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_rate_duration_batching_and_delayed_feedback(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rate, duration, delay = 100.0, 3.0, 1.0
    started = time.monotonic()
    stats = replay(
        url, get_scenario("baseline"), rate=rate, duration=duration, seed=8, feedback_token=TOKEN, feedback_delay=delay
    )
    took = time.monotonic() - started
    # Duration: the sending phase stops on time; the tail only delivers labels still owed.
    assert duration <= stats.elapsed_s < duration + 0.5
    assert took < duration + delay + 2.5
    # Rate: what the clock owes, never more than the planned rows.
    assert stats.errors == 0
    assert 0.9 * rate * duration <= stats.sent <= rate * duration
    assert len(rec.predictions) == stats.sent
    # Several rows are due every 100 ms tick at 100 rows/s: they travel as one batch request.
    assert stats.requests < stats.sent / 5
    assert max(size for _, _, size in rec.predictions) > 1
    # Feedback: every prediction's label, after the delay, with the token.
    sent_at = {pid: at for at, pid, _ in rec.predictions}
    assert {pid for _, pid, _ in rec.feedback} == set(sent_at)
    waits = [at - sent_at[pid] for at, pid, _ in rec.feedback]
    assert min(waits) >= delay - 0.05
    assert max(waits) < delay + 1.0
    assert set(rec.auth) == {f"Bearer {TOKEN}"}
    assert stats.feedback_sent == stats.sent
    # The labels are the generator's ground truth for the same seed, in order.
    _, truth = scenario_frame(get_scenario("baseline"), stats.sent, seed=8, total=int(rate * duration))
    order = {pid: i for i, (_, pid, _) in enumerate(rec.predictions)}
    received = sorted(rec.feedback, key=lambda f: order[f[1]])
    assert [label for _, _, label in received] == truth


def test_sent_rows_carry_the_fault(server: tuple[str, Recorder]) -> None:
    url, rec = server
    stats = replay(url, get_scenario("enrichment-outage"), rate=50, duration=1.0, send_feedback=False)
    assert stats.sent > 0 and not rec.feedback
    assert all(row["bureau_score"] is None and row["open_credit_lines"] is None for row in rec.rows)
    assert stats.kinds["fallback"] == stats.sent  # the generator counts the kinds the server answered


def test_batches_are_split_at_max_batch(server: tuple[str, Recorder]) -> None:
    url, rec = server
    stats = replay(url, get_scenario("baseline"), rate=400, duration=1.0, send_feedback=False, max_batch=16)
    assert stats.sent >= 300
    assert max(size for _, _, size in rec.predictions) <= 16


def test_stop_event_ends_the_replay_early(server: tuple[str, Recorder]) -> None:
    url, _ = server
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    try:
        stats = replay(url, get_scenario("baseline"), rate=50, duration=30.0, stop=stop, feedback_delay=5.0)
    finally:
        timer.cancel()
    assert stats.elapsed_s < 2.0
    assert 0 < stats.sent < 50


def test_server_errors_are_counted_not_raised(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rec.fail_predict = True
    stats = replay(url, get_scenario("baseline"), rate=40, duration=0.5, send_feedback=False)
    assert stats.sent == 0 and stats.errors > 0 and stats.statuses[500] > 0


def test_unreachable_server_is_counted_and_bounded() -> None:
    started = time.monotonic()
    stats = replay(
        f"http://127.0.0.1:{free_port()}", get_scenario("baseline"), rate=20, duration=0.5, send_feedback=False
    )
    assert stats.sent == 0 and stats.errors > 0
    assert time.monotonic() - started < 5


def test_seasonal_volume_swings_within_the_bound(server: tuple[str, Recorder]) -> None:
    url, rec = server
    rate, duration = 100.0, 4.0
    stats = replay(url, get_scenario("seasonal"), rate=rate, duration=duration, send_feedback=False)
    assert stats.sent <= math.ceil(rate * duration * 1.6) + 1
    times = np.array([at for at, _, _ in rec.predictions])
    per_quarter = np.histogram(times - times.min(), bins=4, range=(0, duration))[0]
    # sin(4πp): busy in the 1st and 3rd quarters, quiet in the 2nd and 4th.
    assert per_quarter[0] > 1.5 * per_quarter[1] and per_quarter[2] > 1.5 * per_quarter[3]


def test_invalid_arguments_are_refused() -> None:
    for kwargs in ({"rate": 0, "duration": 1}, {"rate": 1, "duration": -1}, {"rate": 1, "duration": 1, "max_batch": 0}):
        with pytest.raises(ValueError):
            replay("http://127.0.0.1:9", get_scenario("baseline"), **kwargs)  # type: ignore[arg-type]
