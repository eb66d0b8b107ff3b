"""The store Protocols: split by consumer, implemented whole by both backends, and a contract module that
stays light (no pandas behind ``mlmon.store.base``)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlmon.store import protocols
from mlmon.store.base import InferenceEvent, TimeWindow
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import REPO

CONSUMER_PROTOCOLS = {
    protocols.EventSink: {"backend", "write_events", "ping"},
    protocols.LabelSink: {"upsert_labels"},
    protocols.WindowReader: {
        "count",
        "read_window",
        "binned_counts",
        "numeric_summaries",
        "response_counts",
        "labelled_predictions",
    },
    protocols.ReportSink: {"write_report"},
    protocols.ReportReader: {"latest_reports"},
    protocols.IncidentStateStore: {"read_incident_state", "write_incident_state"},
    protocols.Maintenance: {"ensure_schema", "apply_retention", "refresh", "close"},
}


def _members(proto: type) -> set[str]:
    return {
        name
        for klass in proto.__mro__
        if klass not in (object,) and klass.__name__ not in ("Protocol", "Generic")
        for name in vars(klass)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("proto", list(CONSUMER_PROTOCOLS), ids=lambda p: p.__name__)
def test_each_consumer_protocol_is_small_and_exact(proto: type[object]) -> None:
    assert _members(proto) == CONSUMER_PROTOCOLS[proto]


def test_inference_store_is_all_of_them_and_both_backends_implement_it() -> None:
    everything = set().union(*CONSUMER_PROTOCOLS.values())
    assert _members(protocols.InferenceStore) == everything
    for backend in (SQLiteStore, ElasticsearchStore):
        missing = sorted(name for name in everything if not hasattr(backend, name))
        assert not missing, f"{backend.__name__} lacks {missing}"


def test_every_window_read_takes_a_model_version() -> None:
    import inspect

    for name in CONSUMER_PROTOCOLS[protocols.WindowReader]:
        for owner in (protocols.WindowReader, SQLiteStore, ElasticsearchStore):
            params = inspect.signature(getattr(owner, name)).parameters
            assert "model_version" in params, f"{owner.__name__}.{name}"
            assert params["model_version"].default is None


def test_the_contract_module_does_not_import_pandas() -> None:
    code = "import sys, mlmon.store.base, mlmon.store.protocols; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_time_window_arithmetic_without_pandas() -> None:
    end = datetime(2026, 3, 2, 12, tzinfo=UTC)
    window = TimeWindow.last(90.5, end=end)
    assert window.start == end - timedelta(seconds=90.5) and window.seconds == 90.5
    assert window.shift(3600) == TimeWindow(window.start - timedelta(hours=1), end - timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone"):
        TimeWindow(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_event_document_round_trip() -> None:
    event = InferenceEvent(
        prediction_id="p1",
        timestamp=datetime(2026, 3, 2, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2))),
        model_name="m",
        model_version="v1",
        features={"x": 1.5, "c": "a"},
        missing=["y"],
        prediction_label="yes",
        score=0.25,
        response_kind="fallback",
        latency_ms=3.5,
        received_at=datetime(2026, 3, 2, 10, 0, 1, 456000, tzinfo=UTC),
    )
    doc = event.to_doc()
    assert doc["received_at"] == "2026-03-02T10:00:01.456Z" and doc["@timestamp"] == "2026-03-02T10:00:00.123Z"
    back = InferenceEvent.from_doc(doc)
    assert back == event  # the same instants, whatever the zone they were written in
    assert back.timestamp.tzinfo is not None
    unknown = InferenceEvent.from_doc({**doc, "received_at": None})
    assert unknown.received_at is None and InferenceEvent.from_doc(unknown.to_doc()) == unknown
    legacy = {k: v for k, v in doc.items() if k != "received_at"}  # spooled before the field existed
    assert InferenceEvent.from_doc(legacy).received_at is None
