"""The local log's lines: ``encode`` writes exactly ``InferenceEvent.to_doc`` (built per request, with each time
formatted once) and ``decode_many`` reads back exactly ``InferenceEvent.from_doc``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mlmon.inference_log.codec import decode_many, encode
from tests.fixtures.tiny_model import tiny_events


def test_encode_writes_the_documents_of_to_doc_line_by_line() -> None:
    received = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    events = tiny_events(5)
    events = [
        replace(events[0], received_at=received),  # event time and arrival differ
        replace(events[1], received_at=None, score=float("nan")),  # NaN: null in JSON
        replace(events[2], timestamp=received, received_at=received, features={"x": 1.0, "store_id": "é\ud800"}),
        replace(events[3], timestamp=received + timedelta(hours=1), received_at=received),
        events[4],
    ]
    lines = encode(events).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 6
    for line, event in zip(lines, events, strict=False):
        line.decode("utf-8")  # valid UTF-8, even with a lone surrogate (written as an escape)
        doc = event.to_doc()
        if doc["prediction"]["score"] != doc["prediction"]["score"]:
            doc["prediction"]["score"] = None
        assert json.loads(line) == doc


def test_decode_many_reads_back_what_from_doc_reads() -> None:
    events = tiny_events(4)
    events[1] = replace(events[1], received_at=None)
    lines = encode(events).split(b"\n")[:-1]
    decoded = decode_many([*lines, b"{not json", b"[1, 2]", b'{"prediction_id": "x"}'])
    assert decoded[:4] == [type(e).from_doc(e.to_doc()) for e in events]
    assert all(isinstance(d, Exception) for d in decoded[4:])
