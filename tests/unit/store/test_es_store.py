"""Elasticsearch-specific behaviour, against the ES-API test server: daily indices, mappings, bulk item
errors, retention, and an outage through a cut proxy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from mlmon.errors import StoreUnavailable
from mlmon.store.base import LabelRecord, ReportRecord
from mlmon.store.elasticsearch import ElasticsearchStore
from tests.contract.conftest import MIDNIGHT, SPEC, make_events
from tests.fixtures.osmem import osmem_client
from tests.fixtures.proxy import TcpProxy

PATTERN = "mlmon-inference-contract-model-*"
LABELS = "mlmon-labels-contract-model"


def test_daily_indices_get_the_template_mappings(es_url: str) -> None:
    store = ElasticsearchStore(es_url, SPEC)
    events = make_events(20)
    events[0] = replace(events[0], features={**events[0].features, "surprise_int": 3, "surprise_str": "a"})
    assert store.write_events(events).stored == 20
    es = osmem_client(es_url)
    days = sorted(es.indices.get(index=PATTERN))
    assert days == ["mlmon-inference-contract-model-2026.03.01", "mlmon-inference-contract-model-2026.03.02"]
    props = es.indices.get_mapping(index=days[0])[days[0]]["mappings"]["properties"]
    features = props["features"]["properties"]
    assert features["x"]["type"] == "double" and features["flag"]["type"] == "keyword"
    assert features["surprise_int"]["type"] == "double" and features["surprise_str"]["type"] == "keyword"
    assert props["received_at"]["type"] == "date" and props["@timestamp"]["type"] == "date"
    for day in days:
        stamps = [h["_source"]["@timestamp"] for h in es.search(index=day, size=100)["hits"]["hits"]]
        assert all(s.startswith(day[-10:].replace(".", "-")) for s in stamps)
    store.close()


def test_mapping_conflict_is_rejected_with_reason(es_url: str) -> None:
    """A field whose type conflicts with the index mapping is the event's problem, not an outage: that event
    is rejected with the server's reason, the events around it are stored."""
    store = ElasticsearchStore(es_url, SPEC)
    events = make_events(12)
    batch = [replace(e, features={**e.features, "extra": 1.5}) for e in events[:6]]  # "extra" becomes double
    batch[4] = replace(batch[4], features={**batch[4].features, "extra": "not a number"})
    batch += events[6:]
    result = store.write_events(batch)
    assert result.stored == 11 and [pid for pid, _ in result.rejected] == [events[4].prediction_id]
    reason = result.rejected[0][1]
    assert "mapper_parsing_exception" in reason and "extra" in reason, reason
    after = [replace(e, prediction_id=f"after{i}") for i, e in enumerate(make_events(3, seed=2))]
    assert store.write_events(after).stored == 3  # the store is still up
    store.close()


def test_labels_keep_the_prediction_time(es_url: str) -> None:
    store = ElasticsearchStore(es_url, SPEC)
    event = make_events(1)[0]
    store.write_events([event])
    store.upsert_labels([LabelRecord(event.prediction_id, "yes", MIDNIGHT + timedelta(days=2))])
    doc = osmem_client(es_url).get(index=LABELS, id=event.prediction_id)["_source"]
    assert doc["label"] == "yes"
    assert datetime.fromisoformat(doc["@timestamp"]) == event.timestamp.replace(
        microsecond=event.timestamp.microsecond // 1000 * 1000
    )
    store.close()


def test_retention_deletes_old_daily_indices(es_url: str) -> None:
    store = ElasticsearchStore(es_url, SPEC, retention_days=2)
    old = make_events(10, start=MIDNIGHT - timedelta(days=5), span_s=3600)
    new = [replace(e, prediction_id=f"n{i}") for i, e in enumerate(make_events(10, start=MIDNIGHT, span_s=60))]
    store.write_events([*old, *new])
    store.upsert_labels([LabelRecord(e.prediction_id, "no", MIDNIGHT) for e in (old[0], new[0])])
    store.refresh()
    result = store.apply_retention(now=MIDNIGHT + timedelta(hours=1))
    assert result.indices_deleted == ("mlmon-inference-contract-model-2026.02.25",)
    assert result.events_deleted == 10 and result.cutoff == MIDNIGHT - timedelta(days=2)
    es = osmem_client(es_url)
    assert sorted(es.indices.get(index=PATTERN)) == ["mlmon-inference-contract-model-2026.03.02"]
    store.refresh()
    assert es.count(index=LABELS)["count"] == 1
    assert store.apply_retention(now=MIDNIGHT + timedelta(hours=1)).indices_deleted == ()  # idempotent
    store.close()


def test_outage_through_a_cut_proxy(es_url: str, tcp_proxy: Callable[..., TcpProxy]) -> None:
    port = int(es_url.rsplit(":", 1)[1])
    proxy = tcp_proxy(port)
    store = ElasticsearchStore(proxy.url, SPEC)
    events = make_events(30)
    assert store.write_events(events[:10]).stored == 10
    proxy.cut()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"not stored|failed"):
        store.write_events(events[10:])
    assert time.monotonic() - started < 10  # refused at once, not a hang
    assert store.ping() is False
    proxy.restore()
    replay = store.write_events(events)  # the whole batch again: idempotent
    assert (replay.stored, replay.duplicates) == (20, 10)
    store.close()


def test_report_summary_is_indexed_from_the_record(es_url: str) -> None:
    store = ElasticsearchStore(es_url, SPEC)
    body = {"anything": {"nested": [1, 2]}, "status": "not looked at"}
    record = ReportRecord(
        kind="drift",
        timestamp=MIDNIGHT,
        body=body,
        model_version="v7",
        status="ok",
        summary="DRIFT in x",
        drift_detected=True,
        findings=["x", "channel"],
    )
    store.write_report(record)
    es = osmem_client(es_url)
    hits = es.search(index="mlmon-drift-reports-contract-model", query={"term": {"findings": "channel"}})
    [doc] = [h["_source"] for h in hits["hits"]["hits"]]
    assert (doc["model_version"], doc["status"], doc["summary"], doc["drift_detected"]) == (
        "v7",
        "ok",
        "DRIFT in x",
        True,
    )
    assert doc["findings"] == ["x", "channel"] and doc["report"] == body
    assert datetime.fromisoformat(doc["@timestamp"]) == MIDNIGHT
    store.close()
