"""The rules both backends share: event normalisation, times, percentiles, report JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from mlmon.errors import InvalidInput
from mlmon.spec import parse_spec
from mlmon.store.base import InferenceEvent, TimeWindow
from mlmon.store.common import ceil_ms, checked_edges, frame_refs, percentile_ranks, resolve_field, to_ms, window_ms
from mlmon.store.fields import DocField
from mlmon.store.normalize import normalize_event, to_jsonable
from tests.contract.conftest import SPEC

T = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


def _event(**changes: object) -> InferenceEvent:
    base = {
        "prediction_id": "p1",
        "timestamp": T,
        "model_name": SPEC.model,
        "model_version": "v1",
        "features": {"x": 1, "big": np.float32(2.5), "channel": "web", "flag": True},
        "score": 0.3,
        "latency_ms": 2.0,
    }
    return InferenceEvent(**{**base, **changes})  # type: ignore[arg-type]


def test_normalize_event_types() -> None:
    norm = normalize_event(_event(), SPEC)
    assert not isinstance(norm, str)
    assert norm.features == {"x": 1.0, "big": 2.5, "channel": "web", "flag": "true"}
    nan = normalize_event(_event(features={"x": float("nan"), "flag": "False", "extra": 3}, score=float("inf")), SPEC)
    assert not isinstance(nan, str)
    assert nan.features == {"x": None, "flag": "false", "extra": 3}
    assert nan.missing == ["x"] and nan.score is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"features": {"x": "1"}}, "features.x"),
        ({"features": {"x": True}}, "features.x"),
        ({"features": {"x": float("inf")}}, "features.x"),
        ({"features": {"flag": "yes"}}, "features.flag"),
        ({"features": {"channel": 3}}, "features.channel"),
        ({"timestamp": datetime(2026, 1, 1)}, "timestamp"),
        ({"prediction_id": ""}, "prediction_id"),
        ({"prediction_id": "x" * 513}, "prediction_id"),
        ({"model_name": "other"}, "model.name"),
        ({"response_kind": "weird"}, "response.kind"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"received_at": datetime(2026, 1, 1)}, "received_at"),
    ],
)
def test_normalize_event_rejects_with_the_field(changes: dict[str, object], field: str) -> None:
    reason = normalize_event(_event(**changes), SPEC)
    assert isinstance(reason, str) and reason.startswith(field), reason


def test_times_are_milliseconds() -> None:
    assert to_ms(T) == int(datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp() * 1000) + 123
    assert ceil_ms(T) == to_ms(T) + 1
    assert ceil_ms(T.replace(microsecond=123000)) == to_ms(T)
    other_zone = T.astimezone(timezone(timedelta(hours=5)))
    assert to_ms(other_zone) == to_ms(T)
    assert window_ms(TimeWindow(T, T + timedelta(seconds=1))) == (to_ms(T) + 1, to_ms(T) + 1001)
    with pytest.raises(ValueError):
        to_ms(datetime(2026, 1, 1))


def test_percentile_ranks_are_numpy_linear() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 10, 101, 1000):
        values = np.sort(rng.normal(size=n))
        for p in (0.0, 1.0, 5.0, 33.3, 50.0, 95.0, 99.9, 100.0):
            lo, hi, w = percentile_ranks(n, p)
            got = values[lo] + w * (values[hi] - values[lo])
            assert got == pytest.approx(np.percentile(values, p), rel=1e-12, abs=1e-12)


def test_fields_and_edges() -> None:
    assert resolve_field(SPEC, "x").es_path == "features.x"
    assert resolve_field(SPEC, "x").column == "f_x"
    assert resolve_field(SPEC, "prediction.score").kind == "numeric"
    assert resolve_field(SPEC, "prediction.label").kind == "categorical"
    with pytest.raises(InvalidInput, match="unknown feature 'nope'"):
        resolve_field(SPEC, "nope")
    assert checked_edges("x", [1, 2.5]) == [1.0, 2.5]
    for bad in ([1.0, 1.0], [2.0, 1.0], [float("nan")], [float("inf")]):
        with pytest.raises(InvalidInput, match=r"bins\.x"):
            checked_edges("x", bad)


def test_to_jsonable() -> None:
    out = to_jsonable(
        {
            "a": np.array([1.0, np.nan]),
            "b": np.int64(3),
            "c": np.bool_(True),
            4: T,
            "d": (np.float32(0.5),),
            "e": float("-inf"),
        }
    )
    assert out == {"a": [1.0, None], "b": 3, "c": True, "4": T.isoformat(), "d": [0.5], "e": None}


def test_one_vocabulary_for_document_fields() -> None:
    for field in DocField:
        if field is DocField.RECEIVED_AT:
            with pytest.raises(InvalidInput, match="is a time"):
                resolve_field(SPEC, field)
            continue
        ref = resolve_field(SPEC, field)
        assert ref.name == field.value and ref.es_path == field.value
    assert resolve_field(SPEC, DocField.LATENCY_MS).kind == "numeric"
    assert [r.name for r in frame_refs(SPEC, None)] == SPEC.feature_names
    with pytest.raises(InvalidInput, match=r"not features: prediction\.score"):
        frame_refs(SPEC, [DocField.SCORE])
    clashing = parse_spec(
        {
            "model": "m",
            "prediction": {"kind": "regression"},
            "features": [{"name": "latency_ms", "type": "numeric"}, {"name": "x", "type": "numeric"}],
        }
    )
    assert resolve_field(clashing, "latency_ms").es_path == "features.latency_ms"  # the spec's feature wins
    with pytest.raises(InvalidInput, match="'latency_ms' has the name of a window column"):
        frame_refs(clashing, None)


def test_shared_write_bookkeeping() -> None:
    from mlmon.store.base import LabelRecord, LabelWriteResult, WriteResult
    from mlmon.store.common import accept_events, plan_labels, response_counts, retention_cutoff

    result = WriteResult()
    accepted = accept_events([_event(), _event(prediction_id="bad", features={"x": "1"})], SPEC, result)
    assert [e.prediction_id for e in accepted] == ["p1"] and accepted[0].features["flag"] == "true"
    assert result.rejected == [("bad", "features.x: expected a number, got str")]

    labels = [
        LabelRecord("a", "yes", T),
        LabelRecord("ghost", "no", T),
        LabelRecord("a", 2, T),
        LabelRecord("ghost", 1, T),
    ]
    written = LabelWriteResult()
    planned = plan_labels(labels, {"a": 17}, written)
    assert [(label.label, at) for label, at in planned] == [("yes", 17), (2, 17)]  # in order: the last one wins
    assert written.unknown == ["ghost"]

    assert retention_cutoff(None, T) is None and retention_cutoff(0, T) is None
    assert retention_cutoff(2, T) == datetime(2026, 2, 28, tzinfo=UTC)  # whole UTC days
    assert response_counts([("ok", 3), ("fallback", np.int64(1))]) == {"ok": 3, "empty": 0, "fallback": 1}


@pytest.mark.parametrize(
    "values",
    [
        [None] * 40 + [1772409600000] * 30 + [None, 1772409600005] * 15,  # NA-heavy head, few distinct times
        [float("nan"), 1772409600000.0, 1772409600001.0],
        [None, None],
        [],
        [-14200704000000, 10413792000000, None],  # years 1520 and 2300: outside nanosecond datetimes
    ],
    ids=["na-head-repeats", "float-nan", "all-missing", "empty", "far-years"],
)
@pytest.mark.parametrize("dtype", [object, "Int64", "float64"])
def test_utc_from_ms_every_na_shape(values: list[object], dtype: object) -> None:
    from mlmon.store.common import utc_from_ms

    series = pd.Series(values, dtype=dtype)
    got = utc_from_ms(series)
    assert str(got.dtype) == "datetime64[ms, UTC]" and got.index.equals(series.index)
    for value, stamp in zip(values, got, strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert stamp is pd.NaT
        else:
            assert to_ms(stamp.to_pydatetime()) == value


def test_to_ms_any_year() -> None:
    assert to_ms(datetime(1500, 1, 1, tzinfo=UTC)) == -14831769600000
    assert to_ms(datetime(2300, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 10413792000000  # 999 µs truncated
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)
    assert (to_ms(before_epoch), ceil_ms(before_epoch)) == (-1, 0)  # floor and ceiling, also below zero
    assert to_ms(pd.Timestamp("2026-03-02T12:00:00.123456789Z")) == to_ms(T)  # nanoseconds truncated


@pytest.mark.parametrize(
    ("label", "field"),
    [
        (("p\ud800", "yes", T), "labels[0].prediction_id"),
        (("p1", "\udc00", T), "labels[0].label"),
        (("p1", float("nan"), T), "labels[0].label"),
        (("p1", 10**400, T), "labels[0].label"),
        (("p1", True, T), "labels[0].label"),
        (("p1", "yes", datetime(2026, 1, 1)), "labels[0].observed_at"),
    ],
)
def test_labels_that_cannot_be_stored_name_the_field(label: tuple[object, object, datetime], field: str) -> None:
    from mlmon.store.base import LabelRecord
    from mlmon.store.common import check_labels

    with pytest.raises(InvalidInput) as caught:
        check_labels([LabelRecord(*label)])  # type: ignore[arg-type]
    assert caught.value.field == field
