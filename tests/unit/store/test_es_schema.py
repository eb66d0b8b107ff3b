"""The Elasticsearch store repairs its schema while it runs (issue 11 item 5), on the ES-API test server:
indices and templates deleted under a live store, and daily indices whose mapping conflicts with mlmon's."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from mlmon.store.base import CategoryBins, LabelRecord, NumericBins, TimeWindow
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.es_schema import mapping_conflicts, repair_commands
from tests.contract.conftest import CATEGORIES, EDGES_X, MIDNIGHT, SPEC, make_events
from tests.fixtures.osmem import osmem_client

ALL = TimeWindow(MIDNIGHT - timedelta(hours=2), MIDNIGHT + timedelta(hours=2))
MODEL = SPEC.model
DAY1, DAY2 = f"mlmon-inference-{MODEL}-2026.03.01", f"mlmon-inference-{MODEL}-2026.03.02"
BINS: list[NumericBins | CategoryBins] = [NumericBins("x", EDGES_X), CategoryBins("channel", CATEGORIES)]


def _mapped(es_url: str, index: str, path: str) -> str:
    props = osmem_client(es_url).indices.get_mapping(index=index)[index]["mappings"]["properties"]
    for part in path.split(".")[:-1]:
        props = props[part]["properties"]
    return str(props[path.split(".")[-1]]["type"])


def _channels(events: list, day: str | None = None) -> list[int]:  # type: ignore[type-arg]
    values = [e.features["channel"] for e in events if day is None or f"{e.timestamp:%Y.%m.%d}" == day]
    return [*(values.count(c) for c in CATEGORIES), sum(v is not None and v not in CATEGORIES for v in values)]


def test_index_and_template_deleted_under_a_live_store_recover(es_url: str) -> None:
    store = ElasticsearchStore(es_url, SPEC)
    first = make_events(40, seed=1)
    assert store.write_events(first).stored == 40
    assert store.upsert_labels([LabelRecord(first[0].prediction_id, "yes", MIDNIGHT)]).written == 1
    assert store.count(ALL) == 40

    es = osmem_client(es_url)  # someone wipes the store under the running process
    es.indices.delete(index=f"mlmon-inference-{MODEL}-*")
    es.indices.delete(index=f"mlmon-labels-{MODEL}")
    es.indices.delete_index_template(name=f"mlmon-inference-{MODEL}")
    es.cluster.delete_component_template(name=f"mlmon-inference-{MODEL}-mappings")

    again = [replace(e, prediction_id=f"n{i}") for i, e in enumerate(make_events(60, seed=2))]
    result = store.write_events(again)  # the same process, no restart
    assert (result.stored, result.rejected) == (60, [])
    for index in (DAY1, DAY2):  # re-created from the re-created template, not by dynamic mapping
        assert _mapped(es_url, index, "prediction_id") == "keyword"
        assert _mapped(es_url, index, "features.channel") == "keyword"
        assert _mapped(es_url, index, "received_at") == "date"
    assert es.indices.exists_index_template(name=f"mlmon-inference-{MODEL}")
    assert store.upsert_labels([LabelRecord(again[0].prediction_id, "no", MIDNIGHT)]).written == 1
    assert _mapped(es_url, f"mlmon-labels-{MODEL}", "label") == "keyword"

    store.refresh()
    assert store.count(ALL) == 60
    counts = store.binned_counts(ALL, BINS)
    assert counts["channel"].counts.tolist() == _channels(again)
    assert store.response_counts(ALL) == {
        k: sum(e.response_kind == k for e in again) for k in ("ok", "empty", "fallback")
    }
    frame = store.labelled_predictions(ALL)
    assert len(frame) == 60 and frame.set_index("prediction_id")["label"][again[0].prediction_id] == "no"
    store.close()


def test_a_conflicting_index_is_reported_once_and_skipped(es_url: str, caplog: pytest.LogCaptureFixture) -> None:
    es = osmem_client(es_url)
    # Before mlmon's template existed, something wrote into the 2026.03.01 index: dynamic mappings.
    es.index(
        index=DAY1,
        id="stray",
        document={"prediction_id": "stray", "@timestamp": "2026-03-01T23:30:00Z", "features": {"channel": "web"}},
        refresh=True,
    )
    assert _mapped(es_url, DAY1, "prediction_id") == "text"
    caplog.set_level(logging.ERROR, logger="mlmon.store.es_schema")
    store = ElasticsearchStore(es_url, SPEC)
    events = make_events(80, seed=3)
    assert store.write_events(events).stored == 80  # writes go on (into both days)
    day2 = [e for e in events if f"{e.timestamp:%Y.%m.%d}" == "2026.03.02"]
    assert 0 < len(day2) < 80

    for _ in range(3):  # every read works, every run, on the days that are fine
        assert store.count(ALL) == len(day2)
        counts = store.binned_counts(ALL, BINS)
        assert counts["channel"].counts.tolist() == _channels(events, "2026.03.02")
        assert counts["x"].total == len(day2)
        assert sum(store.response_counts(ALL).values()) == len(day2)
        frame = store.read_window(ALL, fields=["channel"])
        assert sorted(frame["prediction_id"]) == sorted(e.prediction_id for e in day2)
        assert len(store.labelled_predictions(ALL)) == len(day2)
    reports = [r for r in caplog.records if DAY1 in r.getMessage()]
    assert len(reports) == 1, [r.getMessage() for r in caplog.records]  # reported once
    message = reports[0].getMessage()
    assert "prediction_id is text (expected keyword)" in message and "features.channel is text" in message
    assert f'POST _reindex {{"source":{{"index":"{DAY1}"}}' in message and f"DELETE /{DAY1}" in message
    store.close()

    # Fixed the documented way: the events written meanwhile come back to the reads.
    for command in repair_commands(DAY1).split(" ; ")[:4]:
        verb, rest = command.split(" ", 1)
        if verb == "DELETE":
            es.indices.delete(index=rest.split()[0].lstrip("/"))
        else:
            body = rest.split(" ", 1)[1]
            import json

            spec = json.loads(body)
            es.reindex(source=spec["source"], dest=spec["dest"], refresh=True)
    fixed = ElasticsearchStore(es_url, SPEC)
    assert _mapped(es_url, DAY1, "prediction_id") == "keyword"
    assert fixed.count(ALL) == 81  # every event, plus the stray document
    fixed.close()


def test_a_read_that_hits_a_broken_index_repairs_and_retries(es_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The index goes bad after the store's first checks: the read sees shard failures, the schema is checked,
    the template put back, the broken index left out, and the read answers."""
    store = ElasticsearchStore(es_url, SPEC)
    events = make_events(50, seed=4)
    store.write_events(events)
    assert store.count(ALL) == 50
    es = osmem_client(es_url)
    es.indices.delete(index=DAY1)
    es.indices.delete_index_template(name=f"mlmon-inference-{MODEL}")
    stray = {"prediction_id": "x", "@timestamp": "2026-03-01T23:59:00Z", "response": {"kind": "ok"}}
    es.index(index=DAY1, id="x", document=stray, refresh=True)
    caplog.set_level(logging.ERROR, logger="mlmon.store.es_schema")
    kinds = store.response_counts(ALL)  # a terms aggregation (keyword only) on the now text-mapped index
    day2 = [e for e in events if f"{e.timestamp:%Y.%m.%d}" == "2026.03.02"]
    assert kinds == {k: sum(e.response_kind == k for e in day2) for k in ("ok", "empty", "fallback")}
    counts = store.binned_counts(ALL, BINS)
    assert counts["channel"].counts.tolist() == _channels(events, "2026.03.02")
    assert es.indices.exists_index_template(name=f"mlmon-inference-{MODEL}")
    assert sum("conflicts with the mlmon mapping" in r.getMessage() for r in caplog.records) == 1
    assert np.sum(counts["x"].counts) + counts["x"].missing == store.count(ALL)
    store.close()


def test_mapping_conflicts_compare_types_not_details() -> None:
    ok = {
        "properties": {"prediction_id": {"type": "keyword"}, "prediction": {"properties": {"score": {"type": "float"}}}}
    }
    assert mapping_conflicts(ok, SPEC) == []  # a float for a double serves the same queries; absent fields are fine
    bad = {"properties": {"@timestamp": {"type": "text"}, "features": {"properties": {"x": {"type": "keyword"}}}}}
    assert mapping_conflicts(bad, SPEC) == [
        "@timestamp is text (expected date)",
        "features.x is keyword (expected double)",
    ]
