"""The request path counts per request what it used to count per row: the same samples, fewer increments.

Per-request recording (``record_many``, batched ``InputRecorder.record``, ``observe_many``) must leave every
series exactly where row-by-row recording leaves it; the typed frame must be the frame ``model_frame`` builds;
prediction ids stay unique."""

from __future__ import annotations

import math
import random
import re
import time
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram

from mlmon.instrument import instrument
from mlmon.instrument.events import prediction_ids
from mlmon.instrument.recorders import observe_many
from mlmon.registry.scoring import model_frame, rows_frame
from mlmon.spec import ModelSpec
from tests.fixtures.tiny_model import tiny_spec
from tests.unit.instrument.test_feature_bins import _profile


def _rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        rows.append(
            {
                "x": rng.choice([None, rng.uniform(-20, 120)]),  # some missing, some out of [0, 100]
                "temperature": rng.choice([None, 20.5, -45.0, 12]),
                "store_id": rng.choice([None, "a", "b", "c", "zz"]),  # zz: an unknown category
                "flag": rng.choice([None, True, False]),
            }
        )
    return rows


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return tiny_spec()


def test_per_request_recording_leaves_the_same_samples_as_per_row(spec: ModelSpec) -> None:
    rows = _rows(300)
    scores = [random.Random(i).random() for i in range(300)]
    scores[3], scores[7] = math.nan, math.inf  # non-finite outputs
    labels = ["yes" if s >= 0.5 else "no" for s in scores]
    labels[11] = "maybe"  # a class the spec did not list
    kinds = ["ok" if i % 7 else "fallback" for i in range(300)]
    registries = CollectorRegistry(), CollectorRegistry()
    profile = _profile()  # with a baseline: the serve-time bin counts and offsets too
    per_row, per_request = (
        instrument(FastAPI(), registry=r, spec=spec, profile=profile, model_version="v1") for r in registries
    )
    for i, row in enumerate(rows):
        per_row.inputs.record([row])
        per_row.outputs.record(scores[i], labels[i], kinds[i])
    per_request.inputs.record(rows[:1])  # a request of one row
    per_request.outputs.record_many(scores[:1], labels[:1], kinds[:1])
    per_request.inputs.record(rows[1:])  # and a request of 299
    per_request.outputs.record_many(scores[1:], labels[1:], kinds[1:])
    got, want = _samples(registries[1]), _samples(registries[0])
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert want[("mlmon_nonfinite_predictions_total", (("model", "tiny"), ("model_version", "v1")))] == 2
    bins = [k for k in want if k[0] == "mlmon_feature_bin_total" and ("feature", "x") in k[1]]
    assert len(bins) == len(profile.numeric("x").edges) + 1
    assert sum(want[k] for k in bins) == sum(1 for r in rows if r["x"] is not None)


def test_observe_many_fills_the_buckets_and_sum_like_observe() -> None:
    values = [0.0, 0.1, 0.1000001, 0.5, 0.99, 1.0, 3.0, -2.0, 0.25, 0.25]
    buckets = (0.1, 0.25, 0.5, 1.0, math.inf)
    one, many = (
        Histogram("h", "test", buckets=buckets, registry=CollectorRegistry()) for _ in range(2)
    )  # fmt: skip
    for value in values:
        one.observe(value)
    observe_many(many, values)
    observe_many(many, [])
    sample = lambda h: {(s.name, s.labels.get("le")): s.value for s in h.collect()[0].samples}  # noqa: E731
    a, b = sample(one), sample(many)
    assert {k: v for k, v in a.items() if k[0] != "h_created"} == pytest.approx(
        {k: v for k, v in b.items() if k[0] != "h_created"}
    )
    assert b[("h_bucket", "0.1")] == 3 and b[("h_count", None)] == len(values)


def test_rows_frame_is_the_frame_model_frame_builds(spec: ModelSpec) -> None:
    rows = _rows(50)
    built = rows_frame(spec, rows)
    expected = model_frame(spec, pd.DataFrame(rows))
    pd.testing.assert_frame_equal(built, expected)
    assert model_frame(spec, built) is built  # already typed: passed on as it is
    copy = built.copy()
    assert model_frame(spec, copy) is not copy  # any other frame is converted
    assert list(rows_frame(spec, []).columns) == spec.feature_names


def test_rows_frame_of_a_numeric_spec_is_one_float_block() -> None:
    from mlmon.spec import parse_spec

    numeric = parse_spec(
        {
            "model": "n",
            "prediction": {"kind": "regression"},
            "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
        },
        "numeric spec",
    )
    frame = rows_frame(numeric, [{"a": 1, "b": None}, {"a": 2.5, "b": 3.0}])
    assert list(frame.dtypes) == ["float64", "float64"]
    assert math.isnan(frame["b"].iloc[0]) and frame["a"].tolist() == [1.0, 2.5]
    pd.testing.assert_frame_equal(frame, model_frame(numeric, pd.DataFrame({"a": [1, 2.5], "b": [None, 3.0]})))


def test_prediction_ids_are_unique_time_ordered_128_bit_hex() -> None:
    before = f"{time.time_ns() // 1_000_000:012x}"
    ids = prediction_ids(1000) + prediction_ids(1)
    assert len(set(ids)) == 1001
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert prediction_ids(0) == []
    after = f"{time.time_ns() // 1_000_000:012x}"
    assert all(before <= i[:12] <= after for i in ids)  # the first 48 bits: Unix milliseconds
    assert ids[:1000] != sorted(ids[:1000])  # random within a millisecond
