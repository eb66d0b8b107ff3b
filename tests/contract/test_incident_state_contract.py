"""The incident-state contract on every backend (SQLite file, Elasticsearch-API server): one document per model,
replaced only by compare-and-set, so concurrent writers (the two monitoring jobs, their replicas) never lose an
update and a replayed write is refused instead of applied twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mlmon.store.base import InferenceStore
from tests.contract.conftest import build_store


def test_absent_then_created_then_replaced_by_revision(store: InferenceStore) -> None:
    assert store.read_incident_state() is None
    first = store.write_incident_state({"n": 1, "text": "naïve ✓"}, None)
    assert first is not None
    record = store.read_incident_state()
    assert record is not None and record.body == {"n": 1, "text": "naïve ✓"} and record.revision == first
    second = store.write_incident_state({"n": 2}, first)
    assert second is not None and second != first
    got = store.read_incident_state()
    assert got is not None and got.body == {"n": 2} and got.revision == second


def test_a_stale_revision_is_refused_and_changes_nothing(store: InferenceStore) -> None:
    first = store.write_incident_state({"n": 1}, None)
    assert first is not None
    second = store.write_incident_state({"n": 2}, first)
    assert second is not None
    # The same write replayed (a retry after a timeout, or a second replica) must not apply twice.
    assert store.write_incident_state({"n": 3}, first) is None
    assert store.write_incident_state({"n": 4}, None) is None  # "create" when it exists
    got = store.read_incident_state()
    assert got is not None and got.body == {"n": 2} and got.revision == second


def test_state_survives_a_new_store_object(
    store: InferenceStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    revision = store.write_incident_state({"incident": {"id": "abc"}, "outbox": [{"id": "m1"}]}, None)
    assert revision is not None
    backend = store.backend
    if backend == "sqlite":
        again = build_store("sqlite", tmp_path, request)  # same file: a restarted job
    else:
        url = request.getfixturevalue("es_url")
        from mlmon.store.elasticsearch import ElasticsearchStore
        from tests.contract.conftest import SPEC

        again = ElasticsearchStore(url, SPEC)
    try:
        record = again.read_incident_state()
        assert record is not None and record.revision == revision
        assert record.body == {"incident": {"id": "abc"}, "outbox": [{"id": "m1"}]}
    finally:
        again.close()


def _increment(store: InferenceStore, times: int, conflicts: list[int]) -> None:
    for _ in range(times):
        for _attempt in range(500):  # bounded: read, change, compare-and-set, retry on conflict
            record = store.read_incident_state()
            body = dict(record.body) if record else {"count": 0, "writers": []}
            body["count"] = int(str(body["count"])) + 1
            if store.write_incident_state(body, record.revision if record else None) is not None:
                break
            conflicts.append(1)
        else:
            raise AssertionError("no write succeeded in 500 attempts")


@pytest.mark.parametrize("kind", ["sqlite", "elasticsearch"])
def test_concurrent_writers_lose_no_update(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Four writers with their own store objects (own connections, like separate processes) increment one counter
    by compare-and-set: every increment lands exactly once."""
    writers, times = 4, 15
    stores = [build_store(kind, tmp_path, request) for _ in range(writers)]
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def work(s: InferenceStore) -> None:
        try:
            _increment(s, times, conflicts)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors
        record = stores[0].read_incident_state()
        assert record is not None and record.body["count"] == writers * times
    finally:
        for s in stores:
            s.close()


def test_elasticsearch_keeps_a_readable_summary(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.contract.conftest import SPEC
    from tests.fixtures.osmem import osmem_client

    store = build_store("elasticsearch", tmp_path, request)
    try:
        body = {"incident": {"id": "i1", "severity": "critical", "kind": {"code": "data_integrity"}}, "outbox": [{}]}
        assert store.write_incident_state(body, None) is not None
        doc = osmem_client(request.getfixturevalue("es_url")).get(index=f"mlmon-incidents-{SPEC.model}", id="state")
        source = doc["_source"]
        assert (source["status"], source["incident_id"], source["severity"], source["kind"]) == (
            "open",
            "i1",
            "critical",
            "data_integrity",
        )
        assert source["pending_notifications"] == 1
    finally:
        store.close()


def test_a_tracker_state_round_trips_and_concurrent_trackers_keep_one_incident(store: InferenceStore) -> None:
    """Two trackers (the two services) on one backend: one incident holding both parts, the state document
    (unicode, charts, nested findings) read back exactly."""
    from mlmon.notify.policy import Rules
    from mlmon.notify.tracker import IncidentTracker
    from tests.contract.conftest import SPEC
    from tests.unit.notify.helpers import contribution, finding

    rules = Rules(notify=False)
    drift = IncidentTracker(store, SPEC.model, rules)
    stats = IncidentTracker(store, SPEC.model, rules)
    brk = finding("integrity", "größe", title="größe: values ≈1,000× the training values — a unit change?")
    symptom = finding("evaluation", "mae", severity="critical", title="mae 27.37, SLO ≤ 20", chart=False)
    errors: list[BaseException] = []

    def run(tracker: IncidentTracker, service: str, f: object) -> None:
        try:
            for _ in range(5):
                assert tracker.report(contribution(f, service=service, model=SPEC.model)) is not None  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(drift, "drift", brk)),
        threading.Thread(target=run, args=(stats, "stats", symptom)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    state = drift.read()
    assert state.incident is not None and set(state.parts) == {"drift", "stats"}
    assert state.incident.kind is not None and state.incident.kind["code"] == "data_integrity"
    assert {f["title"] for p in state.parts.values() for f in p.findings} == {brk.title, symptom.title}
    assert stats.read().dump() == state.dump()
