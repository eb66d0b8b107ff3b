"""Serve-time bin counts (``mlmon_feature_bin_total``) and offset sums (``mlmon_feature_bin_offset_total``):
whatever the request sizes, they hold what the store's binned counts hold for the same values (``numpy``
``searchsorted(side="right")`` + ``bincount``: a value on an edge counts in the bin above), and the per-bin sums
rebuilt as ``count × lower edge + offset`` (first bin: ``count × upper edge - offset``) are the values' sums."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from mlmon.baseline.profile import BaselineProfile, NumericProfile, build_profile
from mlmon.instrument import instrument
from mlmon.instrument.bins import bin_labels, usable_edges
from mlmon.stats.binning import numeric_counts
from tests.fixtures.tiny_model import tiny_spec

EDGES = [-10.0, 0.0, 2.5, 10.0, 1e6]


def _profile() -> BaselineProfile:
    spec = tiny_spec()
    rng = np.random.default_rng(1)
    import pandas as pd

    frame = pd.DataFrame(
        {
            "x": rng.uniform(0, 100, 200),
            "temperature": rng.normal(15, 10, 200),
            "store_id": rng.choice(["a", "b", "c"], 200),
            "flag": rng.random(200) < 0.5,
        }
    )
    profile = build_profile(spec, "v1", frame, rng.random(200), source="test")
    x = profile.numeric("x")
    profile.features["x"] = NumericProfile(
        count=x.count, missing_share=0.0, min=-20.0, max=2e6, mean=1.0, std=1.0, edges=EDGES,
        bin_shares=[1 / 6] * 6,
    )  # fmt: skip
    return profile


def _series(registry: CollectorRegistry, name: str, feature: str) -> dict[str, float]:
    return {
        s.labels["bin"]: s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name == name and s.labels.get("feature") == feature
    }


def _missing(registry: CollectorRegistry, feature: str) -> float:
    found = [
        s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name == "mlmon_feature_missing_total" and s.labels.get("feature") == feature
    ]
    return found[0]


def _values(n: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    values: list[Any] = list(rng.normal(2.0, 8.0, n))
    values[::7] = [None] * len(values[::7])  # missing
    values[1::11] = [math.nan] * len(values[1::11])  # missing too
    values[2::13] = [EDGES[i % len(EDGES)] for i in range(len(values[2::13]))]  # exactly on an edge
    values[3::17] = [-1e7, 3e6, -10.0000001, 1e6 - 1e-9, 0][: len(values[3::17])] + [-50.0] * max(
        0, len(values[3::17]) - 5
    )  # far out at both open ends, just below an edge, negative
    values[5] = math.inf
    values[6] = -math.inf
    values[8] = 4  # an int
    return values


def _record(registry: CollectorRegistry, values: list[Any], sizes: list[int]) -> None:
    inst = instrument(FastAPI(), registry=registry, spec=tiny_spec(), profile=_profile(), model_version="v1")
    start = 0
    for size in sizes:
        rows = [{"x": v} for v in values[start : start + size]]
        inst.inputs.record(rows)
        start += size
    assert start == len(values)


@pytest.mark.parametrize(
    "sizes",
    [[1] * 300, [3, 16, 17, 1, 263], [300]],
    ids=["one-row requests", "mixed requests", "one batch"],
)
def test_bins_and_offsets_hold_the_store_counts_and_sums(sizes: list[int]) -> None:
    values = _values(300, seed=sum(sizes[:3]))
    registry = CollectorRegistry()
    _record(registry, values, sizes)

    counts = _series(registry, "mlmon_feature_bin_total", "x")
    offsets = _series(registry, "mlmon_feature_bin_offset_total", "x")
    labels = bin_labels(EDGES)
    assert labels == ["-10.0", "0.0", "2.5", "10.0", "1e+06", "+Inf"]
    assert list(counts) == labels and list(offsets) == labels

    raw = np.array([math.nan if v is None else float(v) for v in values])
    present = raw[~np.isnan(raw)]
    want = numeric_counts(raw, EDGES)  # the store's convention
    index = np.searchsorted(EDGES, present, side="right")
    assert [counts[b] for b in labels] == want.counts.tolist() == np.bincount(index, minlength=6).tolist()
    assert _missing(registry, "x") == want.missing == int(np.isnan(raw).sum())

    # per-bin sums rebuilt from the offsets; ±inf count at the edge of their (end) bin
    clipped = np.clip(present, EDGES[0], EDGES[-1])
    finite = np.where(np.isfinite(present), present, clipped)
    want_sums = np.bincount(index, weights=finite, minlength=6)
    lower = np.array([EDGES[0], *EDGES])
    cnt = np.array([counts[b] for b in labels])
    off = np.array([offsets[b] for b in labels])
    assert (off >= 0).all()
    sums = np.where(np.arange(6) == 0, cnt * lower - off, cnt * lower + off)
    np.testing.assert_allclose(sums, want_sums, rtol=1e-9, atol=1e-6)
    # the finite values' sums agree with the store's (which puts ±inf at the window's finite extremes)
    only_finite = numeric_counts(present[np.isfinite(present)], EDGES)
    assert only_finite.sums is not None
    np.testing.assert_allclose(
        sums[1:-1], only_finite.sums[1:-1], rtol=1e-9, atol=1e-6
    )  # interior bins hold no infinities


def test_every_bin_series_exists_at_zero_before_traffic_and_without_edges_none() -> None:
    registry = CollectorRegistry()
    instrument(FastAPI(), registry=registry, spec=tiny_spec(), profile=_profile(), model_version="v1")
    counts = _series(registry, "mlmon_feature_bin_total", "x")
    assert counts == dict.fromkeys(bin_labels(EDGES), 0.0)
    temperature = _series(registry, "mlmon_feature_bin_total", "temperature")
    assert len(temperature) == len(_profile().numeric("temperature").edges) + 1
    assert not _series(registry, "mlmon_feature_bin_total", "store_id")  # categorical: category counts instead

    bare = CollectorRegistry()  # no baseline profile: no edges, no bin series
    instrument(FastAPI(), registry=bare, spec=tiny_spec(), model_version="v1").inputs.record([{"x": 1.0}])
    assert not _series(bare, "mlmon_feature_bin_total", "x")


def test_unusable_edges_give_no_bins() -> None:
    assert usable_edges([1.0, 2.0]) == [1.0, 2.0]
    assert usable_edges([]) is None and usable_edges(None) is None
    assert usable_edges([1.0, 1.0]) is None and usable_edges([2.0, 1.0]) is None
    assert usable_edges([0.0, math.inf]) is None


def test_record_columns_leaves_the_samples_record_leaves() -> None:
    rng = np.random.default_rng(4)
    n = 400
    columns: dict[str, Any] = {
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(2.0, 8.0, n)),
        "temperature": rng.normal(15, 30, n),  # some outside the spec range [-30, 50]
        "store_id": np.array([[None, "a", "b", "c", "zz"][i % 5] for i in range(n)], dtype=object),
    }  # "flag" absent: missing in every row
    rows = [{k: (None if k == "x" and math.isnan(v[i]) else v[i]) for k, v in columns.items()} for i in range(n)]
    by_rows, by_columns = CollectorRegistry(), CollectorRegistry()
    for registry in (by_rows, by_columns):
        inst = instrument(FastAPI(), registry=registry, spec=tiny_spec(), profile=_profile(), model_version="v1")
        if registry is by_rows:
            inst.inputs.record(rows)
        else:
            inst.inputs.record_columns(columns)

    def samples(registry: CollectorRegistry) -> dict[Any, float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in registry.collect()
            for s in m.samples
            if s.name.startswith("mlmon_feature") and not s.name.endswith("_created")
        }

    want, got = samples(by_rows), samples(by_columns)
    assert got.keys() == want.keys() and got == pytest.approx(want, rel=1e-12)
    assert want[("mlmon_feature_missing_total", (("feature", "flag"), ("model", "tiny"), ("model_version", "v1")))] == n
