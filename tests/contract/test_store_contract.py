"""One contract for every inference-store backend (SQLite file, Elasticsearch-API server).

Every expected number is computed here with numpy from the same events, never hard-coded.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmon.errors import InvalidInput, StoreUnavailable
from mlmon.store.base import (
    OTHER,
    BinSpec,
    CategoryBins,
    InferenceEvent,
    InferenceStore,
    LabelRecord,
    NumericBins,
    ReportRecord,
    RetentionResult,
    TimeWindow,
)
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.fields import WINDOW_COLUMNS, DocField
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.contract.conftest import CATEGORIES, EDGES_X, MIDNIGHT, SPEC, build_store, make_events
from tests.fixtures.osmem import osmem_client

ALL = TimeWindow(MIDNIGHT - timedelta(hours=2), MIDNIGHT + timedelta(hours=2))
PART = TimeWindow(MIDNIGHT - timedelta(minutes=20), MIDNIGHT + timedelta(minutes=35))
PCTS = [1.0, 5.0, 25.0, 50.0, 90.0, 99.0]


def _in(window: TimeWindow, events: list[InferenceEvent]) -> list[InferenceEvent]:
    return [e for e in events if window.start <= e.timestamp < window.end]


def _value(event: InferenceEvent, name: str) -> float | str | None:
    value = event.features.get(name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _loaded(store: InferenceStore, n: int = 240) -> list[InferenceEvent]:
    events = make_events(n)
    result = store.write_events(events)
    assert (result.stored, result.duplicates, result.rejected) == (n, 0, [])
    store.refresh()
    return events


def test_round_trip(store: InferenceStore) -> None:
    events = _loaded(store)
    frame = store.read_window(ALL)
    expected = sorted(events, key=lambda e: (e.timestamp, e.prediction_id))
    assert list(frame["prediction_id"]) == [e.prediction_id for e in expected]
    assert list(frame.columns) == [*WINDOW_COLUMNS, "x", "big", "channel", "flag"]
    assert list(frame.columns[:8]) == [
        "prediction_id",
        "timestamp",
        "model.version",
        "prediction.label",
        "prediction.score",
        "response.kind",
        "latency_ms",
        "received_at",
    ]
    assert str(frame["timestamp"].dt.tz) == "UTC" and str(frame[DocField.RECEIVED_AT].dt.tz) == "UTC"
    for row, event in zip(frame.to_dict("records"), expected, strict=True):
        assert row["timestamp"].to_pydatetime() == event.timestamp
        assert (row[DocField.MODEL_VERSION], row[DocField.PREDICTED_LABEL], row[DocField.RESPONSE_KIND]) == (
            event.model_version,
            event.prediction_label,
            event.response_kind,
        )
        assert row[DocField.SCORE] == event.score and row[DocField.LATENCY_MS] == event.latency_ms
        received = row[DocField.RECEIVED_AT]
        assert received is pd.NaT if event.received_at is None else received == event.received_at
        for name in ("x", "big"):
            want = _value(event, name)
            got = row[name]
            assert math.isnan(got) if want is None else got == want, (name, got, want)
        assert row["channel"] == _value(event, "channel") and row["flag"] == _value(event, "flag")
    subset = store.read_window(ALL, fields=["channel"], limit=10)
    assert len(subset) == 10 and "x" not in subset.columns and "channel" in subset.columns


def test_replay_is_idempotent(store: InferenceStore) -> None:
    events = _loaded(store, 60)
    again = store.write_events([*events[:30], events[0]])
    assert (again.stored, again.duplicates) == (0, 31)
    batch = make_events(3, seed=99)
    batch = [InferenceEvent(**{**e.__dict__, "prediction_id": f"new{i}"}) for i, e in enumerate(batch)]
    mixed = store.write_events([batch[0], batch[1], batch[0]])  # a duplicate inside one batch
    assert (mixed.stored, mixed.duplicates) == (2, 1)
    store.refresh()
    assert store.count(ALL) == 62


def test_bad_events_are_rejected_with_the_field(store: InferenceStore) -> None:
    good = make_events(2)
    naive = InferenceEvent(**{**good[0].__dict__, "prediction_id": "naive", "timestamp": datetime(2026, 3, 2)})
    text = InferenceEvent(**{**good[0].__dict__, "prediction_id": "text", "features": {"x": "12"}})
    other = InferenceEvent(**{**good[0].__dict__, "prediction_id": "other", "model_name": "someone-else"})
    result = store.write_events([good[0], naive, text, other, good[1]])
    assert result.stored == 2
    reasons = dict(result.rejected)
    assert set(reasons) == {"naive", "text", "other"}
    assert reasons["naive"].startswith("timestamp") and reasons["text"].startswith("features.x")
    assert reasons["other"].startswith("model.name")


def test_poison_events_are_rejected_and_never_fail_the_batch(store: InferenceStore) -> None:
    """Issue 11 item 1: strings no UTF-8 store can hold (lone surrogates, valid JSON), numbers too large for a
    double, values that are not JSON — each rejected naming its field; every other event is stored."""
    events = make_events(50, seed=31)
    poison = {
        3: {"features": {**events[3].features, "channel": "we\ud800b"}},
        9: {"prediction_label": "\udfff"},
        17: {"model_version": "v\ud834"},
        21: {"features": {**events[21].features, "x": 10**400}},
        30: {"features": {**events[30].features, "note": {"k\ud800": 1}}},  # not in the spec: kept as JSON
        33: {"features": {**events[33].features, "blob": 10**5000}},  # over the int-string limit,
        40: {"missing": ["x", "\ud800"]},
    }
    batch = [replace(e, **poison[i]) if i in poison else e for i, e in enumerate(events)]  # type: ignore[arg-type]
    result = store.write_events(batch)
    reasons = dict(result.rejected)
    assert set(reasons) == {events[i].prediction_id for i in poison}
    assert (result.stored, result.duplicates) == (50 - len(poison), 0)
    assert reasons[events[3].prediction_id].startswith("features.channel: contains an unpaired surrogate U+D800")
    assert reasons[events[9].prediction_id].startswith("prediction.label:")
    assert reasons[events[17].prediction_id].startswith("model.version:")
    assert reasons[events[21].prediction_id] == "features.x: number too large for a double"
    assert reasons[events[30].prediction_id].startswith("features.note: a key contains an unpaired surrogate")
    assert reasons[events[33].prediction_id].startswith("features.blob: not storable")
    assert reasons[events[40].prediction_id].startswith("missing[1]:")
    bad_id = replace(events[0], prediction_id="p\ud800")
    assert store.write_events([bad_id]).rejected == [
        ("p\ud800", "prediction_id: contains an unpaired surrogate U+D800 at position 1")
    ]
    store.refresh()
    assert store.count(ALL) == 50 - len(poison)
    later = [replace(e, prediction_id=f"later{i}") for i, e in enumerate(make_events(5, seed=32))]
    assert store.write_events(later).stored == 5  # nothing waits behind the poison
    with pytest.raises(InvalidInput, match=r"labels\[1\]\.label: contains an unpaired surrogate"):
        store.upsert_labels(
            [LabelRecord(later[0].prediction_id, "yes", MIDNIGHT), LabelRecord("x", "\ud800", MIDNIGHT)]
        )
    store.refresh()
    assert store.labelled_predictions(ALL)["label"].isna().all()  # nothing half-written


def test_window_is_half_open_and_counts_by_version(store: InferenceStore) -> None:
    base = make_events(4, seed=3)
    t0 = MIDNIGHT + timedelta(minutes=5)
    stamps = [
        t0 - timedelta(milliseconds=1),
        t0,
        t0 + timedelta(minutes=1) - timedelta(milliseconds=1),
        t0 + timedelta(minutes=1),
    ]
    events = [
        InferenceEvent(**{**e.__dict__, "timestamp": ts, "model_version": v})
        for e, ts, v in zip(base, stamps, ["a", "a", "b", "a"], strict=True)
    ]
    store.write_events(events)
    store.refresh()
    window = TimeWindow(t0, t0 + timedelta(minutes=1))
    assert store.count(window) == 2
    assert store.count(window, model_version="a") == 1
    assert store.count(window, model_version="zzz") == 0
    assert list(store.read_window(window)["prediction_id"]) == [events[1].prediction_id, events[2].prediction_id]
    # sub-millisecond window bounds: an event at t0 is inside [t0 - 0.5ms, ...) and outside [..., t0 + 0.5ms)
    assert store.count(TimeWindow(t0 - timedelta(microseconds=500), t0 + timedelta(microseconds=500))) == 1
    assert store.count(TimeWindow(MIDNIGHT - timedelta(days=30), MIDNIGHT - timedelta(days=29))) == 0


def test_binned_counts_match_numpy(store: InferenceStore) -> None:
    events = _loaded(store)
    for window in (ALL, PART):
        rows = _in(window, events)
        got = store.binned_counts(
            window,
            [
                NumericBins("x", EDGES_X),
                CategoryBins("channel", CATEGORIES),
                CategoryBins("flag", ["false", "true"]),
                NumericBins("big", []),
            ],
        )
        xs = [_value(e, "x") for e in rows]
        present = np.array([v for v in xs if v is not None], dtype=float)
        want_x = np.bincount(np.searchsorted(EDGES_X, present, side="right"), minlength=len(EDGES_X) + 1)
        assert got["x"].counts.tolist() == want_x.tolist()
        assert (got["x"].missing, got["x"].total) == (len(xs) - len(present), len(rows))
        _assert_sums(got["x"].sums, present, EDGES_X)
        for name, cats in (("channel", CATEGORIES), ("flag", ["false", "true"])):
            values = [_value(e, name) for e in rows]
            want = [sum(v == c for v in values) for c in cats]
            want.append(sum(v is not None and v not in cats for v in values))  # __other__
            assert got[name].counts.tolist() == want, (name, OTHER)
            assert got[name].missing == sum(v is None for v in values)
            assert got[name].sums is None  # categories have counts only
        bigs = np.array([v for e in rows if (v := _value(e, "big")) is not None], dtype=float)
        assert got["big"].counts.tolist() == [len(bigs)]
        _assert_sums(got["big"].sums, bigs, [])


def _assert_sums(sums: np.ndarray | None, values: np.ndarray, edges: list[float]) -> None:
    """Per-bin sums of the values equal numpy's (to rounding: servers add in their own order)."""
    assert sums is not None and sums.dtype == np.float64 and len(sums) == len(edges) + 1
    which = np.searchsorted(edges, values, side="right")
    want = np.array([math.fsum(values[which == j]) for j in range(len(edges) + 1)])
    assert sums == pytest.approx(want, rel=1e-12, abs=1e-9)
    assert sums.sum() == pytest.approx(values.sum(), rel=1e-12)


def test_output_fields_bin_like_features(store: InferenceStore) -> None:
    events = _loaded(store)
    got = store.binned_counts(
        ALL, [NumericBins(DocField.SCORE, [0.25, 0.5, 0.75]), CategoryBins("prediction.label", ["no", "yes"])]
    )
    frame = store.read_window(ALL, fields=[])  # the frame's columns are the same names
    for name in (DocField.SCORE, DocField.PREDICTED_LABEL):
        assert name in got and name in frame.columns
    scores = np.array([e.score for e in events])
    assert (
        got["prediction.score"].counts.tolist()
        == np.bincount(np.searchsorted([0.25, 0.5, 0.75], scores, side="right"), minlength=4).tolist()
    )
    _assert_sums(got["prediction.score"].sums, scores, [0.25, 0.5, 0.75])
    assert got["prediction.label"].counts.tolist() == [
        sum(e.prediction_label == "no" for e in events),
        sum(e.prediction_label == "yes" for e in events),
        0,
    ]
    with pytest.raises(InvalidInput, match="unknown feature"):
        store.binned_counts(ALL, [NumericBins("nope", [1.0])])
    with pytest.raises(InvalidInput, match="numeric"):
        store.binned_counts(ALL, [NumericBins("channel", [1.0])])


def test_numeric_summaries_match_numpy(store: InferenceStore) -> None:
    events = _loaded(store)
    exact = isinstance(store, SQLiteStore)
    for window in (ALL, PART):
        rows = _in(window, events)
        got = store.numeric_summaries(window, ["x", "big", "latency_ms"], PCTS)
        for name in ("x", "big", "latency_ms"):
            raw = [e.latency_ms for e in rows] if name == "latency_ms" else [_value(e, name) for e in rows]
            values = np.array([v for v in raw if v is not None], dtype=float)
            summary = got[name]
            assert (summary.count, summary.missing) == (len(values), len(raw) - len(values))
            assert summary.min == values.min() and summary.max == values.max()
            assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
            # SQLite: two-pass variance; a server may use sums of squares (cancellation at 1e9 ± 250)
            assert summary.std == pytest.approx(values.std(), rel=1e-9 if exact else 2e-2)
            for p in PCTS:
                value = summary.percentiles[p]
                assert value is not None
                if exact:
                    assert value == pytest.approx(np.percentile(values, p), rel=1e-12, abs=1e-12)
                else:  # an estimate: between the order statistics one percentage point either side
                    lo = np.percentile(values, max(p - 1, 0), method="lower")
                    hi = np.percentile(values, min(p + 1, 100), method="higher")
                    assert lo <= value <= hi, (name, p, value, lo, hi)
    empty = store.numeric_summaries(
        TimeWindow(MIDNIGHT + timedelta(days=3), MIDNIGHT + timedelta(days=4)), ["x"], [50.0]
    )["x"]
    assert (empty.count, empty.mean, empty.std, empty.percentiles) == (0, None, None, {50.0: None})


def test_reads_filter_by_model_version(store: InferenceStore) -> None:
    """A window spanning a deploy: only the rows of the asked version, on every read the drift job uses."""
    events = _loaded(store)
    exact = isinstance(store, SQLiteStore)
    bins: list[BinSpec] = [
        NumericBins("x", EDGES_X),
        CategoryBins("channel", CATEGORIES),
        NumericBins("prediction.score", [0.25, 0.5, 0.75]),
    ]
    for window in (ALL, PART):
        rows = sorted(
            _in(window, [e for e in events if e.model_version == "v2"]), key=lambda e: (e.timestamp, e.prediction_id)
        )
        everyone = store.count(window)
        assert 0 < len(rows) < everyone  # both versions in the window: the filter has something to drop
        frame = store.read_window(window, model_version="v2")
        assert list(frame["prediction_id"]) == [e.prediction_id for e in rows]
        assert set(frame[DocField.MODEL_VERSION]) == {"v2"}
        assert frame["x"].isna().sum() == sum(_value(e, "x") is None for e in rows)
        first = store.read_window(window, fields=[], limit=3, model_version="v2")
        assert list(first["prediction_id"]) == [e.prediction_id for e in rows[:3]]

        got = store.binned_counts(window, bins, model_version="v2")
        present = np.array([v for e in rows if (v := _value(e, "x")) is not None], dtype=float)
        assert (
            got["x"].counts.tolist()
            == np.bincount(np.searchsorted(EDGES_X, present, side="right"), minlength=len(EDGES_X) + 1).tolist()
        )
        assert (got["x"].missing, got["x"].total) == (len(rows) - len(present), len(rows))
        _assert_sums(got["x"].sums, present, EDGES_X)
        channels = [_value(e, "channel") for e in rows]
        assert got["channel"].counts.tolist() == [
            *(sum(v == c for v in channels) for c in CATEGORIES),
            sum(v is not None and v not in CATEGORIES for v in channels),
        ]
        scores = np.array([e.score for e in rows])
        assert (
            got["prediction.score"].counts.tolist()
            == np.bincount(np.searchsorted([0.25, 0.5, 0.75], scores, side="right"), minlength=4).tolist()
        )

        summary = store.numeric_summaries(window, ["x", "latency_ms"], [50.0], model_version="v2")
        for name, values in (("x", present), ("latency_ms", np.array([e.latency_ms for e in rows]))):
            s = summary[name]
            assert (s.count, s.missing) == (len(values), len(rows) - len(values)), name
            assert (s.min, s.max) == (values.min(), values.max()), name
            assert s.mean == pytest.approx(values.mean(), rel=1e-12), name
            assert s.std == pytest.approx(values.std(), rel=1e-9 if exact else 2e-2), name
            median = s.percentiles[50.0]
            assert median is not None
            if exact:
                assert median == pytest.approx(np.percentile(values, 50.0), rel=1e-12)
            else:
                assert np.percentile(values, 49, method="lower") <= median <= np.percentile(values, 51, method="higher")
        kinds = store.response_counts(window, model_version="v2")
        assert kinds == {k: sum(e.response_kind == k for e in rows) for k in ("ok", "empty", "fallback")}
        joined = store.labelled_predictions(window, model_version="v2")
        assert list(joined["prediction_id"]) == [e.prediction_id for e in rows]
    nobody = "no-such-version"
    assert store.read_window(ALL, model_version=nobody).empty
    assert store.labelled_predictions(ALL, model_version=nobody).empty
    assert store.response_counts(ALL, model_version=nobody) == {"ok": 0, "empty": 0, "fallback": 0}
    none = store.binned_counts(ALL, bins, model_version=nobody)
    assert all((b.total, b.missing, int(b.counts.sum())) == (0, 0, 0) for b in none.values())
    empty = store.numeric_summaries(ALL, ["x"], [50.0], model_version=nobody)["x"]
    assert (empty.count, empty.missing, empty.mean, empty.percentiles) == (0, 0, None, {50.0: None})


@pytest.mark.parametrize("kind", ["sqlite", "elasticsearch"])
def test_retention_deletes_old_days_and_keeps_recent(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = build_store(kind, tmp_path, request, retention_days=2)
    now = MIDNIGHT + timedelta(hours=1)
    cutoff = MIDNIGHT - timedelta(days=2)  # whole UTC days: everything before 2026-02-28T00:00 goes
    old = make_events(12, seed=5, start=cutoff - timedelta(days=3), span_s=3600)
    recent = [replace(e, prediction_id=f"r{i}") for i, e in enumerate(make_events(15, seed=6, start=MIDNIGHT))]
    edge_old = replace(recent[0], prediction_id="edge-old", timestamp=cutoff - timedelta(milliseconds=1))
    edge_new = replace(recent[0], prediction_id="edge-new", timestamp=cutoff)
    assert store.write_events([*old, *recent, edge_old, edge_new]).stored == 29
    labelled = store.upsert_labels([LabelRecord(e.prediction_id, "no", now) for e in (old[0], edge_old, recent[0])])
    assert labelled.written == 3
    store.refresh()

    result = store.apply_retention(now=now)
    assert result.cutoff == cutoff and result.events_deleted == 13
    if kind == "elasticsearch":
        days = sorted({f"{e.timestamp.astimezone(UTC):%Y.%m.%d}" for e in [*old, edge_old]})
        assert result.indices_deleted == tuple(f"mlmon-inference-contract-model-{d}" for d in days)
        assert len(days) == 2  # the old block's day and the day just before the cutoff
    store.refresh()
    everything = TimeWindow(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    kept = store.read_window(everything, fields=[])
    assert sorted(kept["prediction_id"]) == sorted([*(e.prediction_id for e in recent), "edge-new"])
    labels = store.labelled_predictions(everything).set_index("prediction_id")["label"]
    assert labels["r0"] == "no" and labels.notna().sum() == 1
    assert _stored_labels(store, request) == 1  # the labels of deleted predictions are gone too, not just unjoinable
    again = store.apply_retention(now=now)
    assert (again.events_deleted, again.indices_deleted) == (0, ())
    store.close()

    off = build_store(kind, tmp_path / "off", request)  # no retention configured: nothing is touched
    assert off.apply_retention(now=now) == RetentionResult(None)
    off.close()


def _stored_labels(store: InferenceStore, request: pytest.FixtureRequest) -> int:
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            return int(conn.execute('SELECT COUNT(*) FROM "labels_contract-model"').fetchone()[0])
    assert isinstance(store, ElasticsearchStore)
    es = osmem_client(request.getfixturevalue("es_url"))  # the same server the store writes to
    return int(es.count(index="mlmon-labels-contract-model")["count"])


def test_response_counts(store: InferenceStore) -> None:
    events = _loaded(store)
    rows = _in(PART, events)
    want = {k: sum(e.response_kind == k for e in rows) for k in ("ok", "empty", "fallback")}
    assert store.response_counts(PART) == want


def test_labels_upsert_last_wins_and_join(store: InferenceStore) -> None:
    events = _loaded(store, 50)
    seen = datetime(2026, 3, 3, tzinfo=UTC)
    first = store.upsert_labels(
        [LabelRecord(e.prediction_id, "no", seen) for e in events[:20]] + [LabelRecord("ghost-1", "yes", seen)]
    )
    assert (first.written, first.replaced, first.unknown) == (20, 0, ["ghost-1"])
    second = store.upsert_labels(
        [
            LabelRecord(events[0].prediction_id, "yes", seen + timedelta(hours=1)),
            LabelRecord(events[0].prediction_id, "no", seen + timedelta(hours=2)),
            LabelRecord(events[25].prediction_id, "yes", seen),
            LabelRecord("ghost-2", "no", seen),
        ]
    )
    assert (second.written, second.replaced, second.unknown) == (3, 2, ["ghost-2"])
    store.refresh()
    frame = store.labelled_predictions(ALL, extra_fields=["channel"])
    assert list(frame.columns) == [*WINDOW_COLUMNS, "label", "label_observed_at", "channel"]
    assert len(frame) == 50
    by_id = frame.set_index("prediction_id")
    assert by_id.loc[events[0].prediction_id, "label"] == "no"  # last write wins
    assert by_id.loc[events[0].prediction_id, "label_observed_at"] == seen + timedelta(hours=2)
    assert by_id.loc[events[25].prediction_id, "label"] == "yes"
    assert by_id["label"].notna().sum() == 21
    assert by_id.loc[events[40].prediction_id, "label"] is None
    assert by_id.loc[events[3].prediction_id, "channel"] == _value(events[3], "channel")
    part = store.labelled_predictions(PART)
    assert set(part["prediction_id"]) == {e.prediction_id for e in _in(PART, events)}


def test_regression_labels_stay_numbers(store: InferenceStore) -> None:
    events = _loaded(store, 5)
    store.upsert_labels([LabelRecord(e.prediction_id, float(i) + 0.5, MIDNIGHT) for i, e in enumerate(events)])
    store.refresh()
    frame = store.labelled_predictions(ALL)
    assert frame["label"].dtype == np.float64
    assert sorted(frame["label"]) == [0.5, 1.5, 2.5, 3.5, 4.5]


def test_reports_round_trip(store: InferenceStore) -> None:
    for i in range(3):
        store.write_report(
            ReportRecord(
                kind="drift",
                timestamp=MIDNIGHT + timedelta(hours=i),
                body={"run": i, "scores": np.array([0.1, float("nan")]), "n": np.int64(5), "at": MIDNIGHT},
                model_version="v1",
                status="ok",
                summary=f"run {i}",
                drift_detected=i == 2,
                findings=["x"] if i == 2 else [],
            )
        )
    store.write_report(ReportRecord(kind="stats", timestamp=MIDNIGHT, body={"run": "stats-only"}))
    latest = store.latest_reports("drift", limit=2)
    assert [r["run"] for r in latest] == [2, 1]  # newest first, by the record's timestamp
    assert latest[0]["scores"] == [0.1, None] and latest[0]["n"] == 5 and latest[0]["at"] == MIDNIGHT.isoformat()
    assert [r["run"] for r in store.latest_reports("stats")] == ["stats-only"]
    with pytest.raises(InvalidInput, match="kind"):
        ReportRecord(kind="other", timestamp=MIDNIGHT, body={})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="timestamp"):
        ReportRecord(kind="stats", timestamp=datetime(2026, 3, 2), body={})


@pytest.mark.parametrize("kind", ["sqlite", "elasticsearch"])
def test_unreachable_store_raises_store_unavailable(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        bad: InferenceStore = SQLiteStore(blocker / "sub" / "x.db", SPEC)
    else:
        bad = ElasticsearchStore(f"http://127.0.0.1:{free_port()}", SPEC)  # nothing listens there
    assert bad.ping() is False
    with pytest.raises(StoreUnavailable):
        bad.write_events(make_events(2))
    with pytest.raises(StoreUnavailable):
        bad.count(ALL)
    bad.close()


def test_both_backends_give_the_same_numbers(both_stores: tuple[InferenceStore, InferenceStore]) -> None:
    sqlite, elastic = both_stores
    events = make_events(300, seed=11)
    for s in both_stores:
        s.write_events(events)
        s.upsert_labels([LabelRecord(e.prediction_id, "yes", MIDNIGHT) for e in events[::3]])
        s.refresh()
    bins: list[BinSpec] = [
        NumericBins("x", EDGES_X),
        NumericBins("big", [1e9 - 100, 1e9, 1e9 + 100]),
        CategoryBins("channel", CATEGORIES),
        CategoryBins("flag", ["true", "false"]),
        NumericBins("prediction.score", [0.1, 0.5, 0.9]),
    ]
    for window in (ALL, PART):
        a, b = sqlite.binned_counts(window, bins), elastic.binned_counts(window, bins)
        for name in a:
            assert a[name].counts.tolist() == b[name].counts.tolist(), name
            assert (a[name].missing, a[name].total) == (b[name].missing, b[name].total)
            sums_a, sums_b = a[name].sums, b[name].sums
            assert (sums_a is None) == (sums_b is None), name
            if sums_a is not None:
                assert sums_a == pytest.approx(sums_b, rel=1e-12, abs=1e-9), name
        assert sqlite.count(window) == elastic.count(window)
        assert sqlite.count(window, "v2") == elastic.count(window, "v2")
        assert sqlite.response_counts(window) == elastic.response_counts(window)
        sa, sb = sqlite.numeric_summaries(window, ["x"], [50.0]), elastic.numeric_summaries(window, ["x"], [50.0])
        assert (sa["x"].count, sa["x"].missing, sa["x"].min, sa["x"].max) == (
            sb["x"].count,
            sb["x"].missing,
            sb["x"].min,
            sb["x"].max,
        )
        assert sa["x"].mean == pytest.approx(sb["x"].mean, rel=1e-9)
        la, lb = sqlite.labelled_predictions(window), elastic.labelled_predictions(window)
        assert la.drop(columns="label_observed_at").equals(lb.drop(columns="label_observed_at"))
        assert (la["label_observed_at"] == lb["label_observed_at"]).sum() == la["label"].notna().sum()
        ra, rb = sqlite.read_window(window), elastic.read_window(window)
        assert ra.equals(rb)
        # the same with a model-version filter
        va = sqlite.binned_counts(window, bins, model_version="v2")
        vb = elastic.binned_counts(window, bins, model_version="v2")
        for name in va:
            assert va[name].counts.tolist() == vb[name].counts.tolist(), name
            assert (va[name].missing, va[name].total) == (vb[name].missing, vb[name].total)
        assert va["x"].total == sqlite.count(window, "v2") < sqlite.count(window)
        na = sqlite.numeric_summaries(window, ["x", "big"], [], model_version="v2")
        nb = elastic.numeric_summaries(window, ["x", "big"], [], model_version="v2")
        for name in na:
            assert (na[name].count, na[name].missing, na[name].min, na[name].max) == (
                nb[name].count,
                nb[name].missing,
                nb[name].min,
                nb[name].max,
            ), name
            assert na[name].mean == pytest.approx(nb[name].mean, rel=1e-9), name
        assert sqlite.read_window(window, model_version="v2").equals(elastic.read_window(window, model_version="v2"))


def test_labelled_and_unlabelled_predictions_share_a_window(store: InferenceStore) -> None:
    """Issue 11 item 3: a window where only some predictions have a label (NA label times among real ones).

    200 rows, the first ones unlabelled: the NA-heavy head and the repeated label times are the shape that
    made the statistics service fail (pandas' cached to_datetime path over nullable integers)."""
    events = make_events(200, seed=21)
    assert store.write_events(events).stored == 200
    ordered = sorted(events, key=lambda e: (e.timestamp, e.prediction_id))
    seen = [MIDNIGHT + timedelta(minutes=i % 3) for i in range(200)]  # few distinct label times
    labelled = {e.prediction_id: seen[i] for i, e in enumerate(ordered) if i >= 40 and i % 3}
    store.upsert_labels([LabelRecord(pid, "yes", at) for pid, at in labelled.items()])
    store.refresh()
    frame = store.labelled_predictions(ALL)
    assert str(frame["label_observed_at"].dtype).startswith("datetime64") and frame["label_observed_at"].dt.tz
    got = dict(zip(frame["prediction_id"], frame["label_observed_at"], strict=True))
    for e in ordered:
        want = labelled.get(e.prediction_id)
        assert (got[e.prediction_id] is pd.NaT) if want is None else got[e.prediction_id] == want
    assert frame["label"].isna().sum() == 200 - len(labelled)
    for window in (PART, TimeWindow(MIDNIGHT - timedelta(hours=1), MIDNIGHT - timedelta(minutes=50))):
        part = store.labelled_predictions(window)
        assert len(part) == len(_in(window, events)) and part["label_observed_at"].notna().sum() == sum(
            e.prediction_id in labelled for e in _in(window, events)
        )


def test_frames_keep_their_types_for_every_na_shape(store: InferenceStore) -> None:
    """No label at all, every label, an empty window, and times outside pandas' nanosecond range."""
    events = make_events(60, seed=22)
    store.write_events(events)
    store.refresh()
    none = store.labelled_predictions(ALL)
    assert len(none) == 60 and none["label_observed_at"].isna().all() and none["label"].isna().all()
    store.upsert_labels([LabelRecord(e.prediction_id, "no", MIDNIGHT) for e in events])
    store.refresh()
    every = store.labelled_predictions(ALL)
    assert (every["label_observed_at"] == MIDNIGHT).all() and (every["label"] == "no").all()
    empty_window = TimeWindow(MIDNIGHT + timedelta(days=5), MIDNIGHT + timedelta(days=6))
    for empty in (store.labelled_predictions(empty_window), store.read_window(empty_window)):
        assert empty.empty and str(empty["timestamp"].dtype) == str(every["timestamp"].dtype)
    assert str(none["label_observed_at"].dtype) == str(every["label_observed_at"].dtype)
    # Label times a client may send (the model server bounds them; the store must not crash on them).
    far = [datetime(2300, 1, 1, tzinfo=UTC), datetime(1500, 1, 1, tzinfo=UTC)]
    store.upsert_labels(
        [LabelRecord(events[0].prediction_id, "yes", far[0]), LabelRecord(events[1].prediction_id, "yes", far[1])]
    )
    store.refresh()
    by_id = store.labelled_predictions(ALL).set_index("prediction_id")["label_observed_at"]
    assert by_id[events[0].prediction_id] == far[0] and by_id[events[1].prediction_id] == far[1]
    # An event far in the future (history loaded with a wrong clock) reads back too.
    future = replace(events[2], prediction_id="future", timestamp=datetime(2300, 6, 1, 12, tzinfo=UTC))
    assert store.write_events([future]).stored == 1
    store.refresh()
    later = store.read_window(TimeWindow(datetime(2300, 6, 1, tzinfo=UTC), datetime(2300, 6, 2, tzinfo=UTC)))
    assert list(later["prediction_id"]) == ["future"] and later["timestamp"][0] == future.timestamp
