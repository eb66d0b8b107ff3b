"""The serve-time counts (what the model server's recorders counted, as Prometheus sums them) stand for the
window as the store's binned counts do: for the same rows, the same counts, per-bin sums, shares and drift
results; and binned Wasserstein within a few percent of the exact one on the raw rows. Also: edges or
categories that are not the baseline's make the counts unusable (the job then falls back to the store)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from drift_detector.serve_counts import CountsUnusable, categorical_counts, numeric_counts
from mlmon.baseline.profile import BaselineProfile, build_profile
from mlmon.instrument import instrument
from mlmon.promql import Sample, histogram_bins
from mlmon.stats.baseline import (
    PREDICTED_CLASS,
    PREDICTION,
    Baseline,
    CategoricalBaseline,
    NumericBaseline,
    from_profile,
)
from mlmon.stats.engine import FeatureComparison, compare
from mlmon.store.base import BinnedCounts, BinSpec, CategoryBins, InferenceEvent, NumericBins, TimeWindow
from mlmon.store.fields import DocField
from mlmon.store.sqlite import SQLiteStore
from tests.fixtures.tiny_model import tiny_spec

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
N = 6000


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.lognormal(3.0, 0.6, n) + shift,  # heavy right tail
            "temperature": rng.normal(15, 10, n),  # negative values too
            "store_id": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "flag": rng.random(n) < 0.5,
        }
    )
    frame.loc[rng.random(n) < 0.1, "temperature"] = np.nan
    return frame


def _training() -> tuple[BaselineProfile, pd.DataFrame, np.ndarray]:
    frame = _frame(3000, seed=1)
    scores = np.random.default_rng(2).beta(2, 5, 3000)
    labels = np.where(scores >= 0.5, "yes", "no")
    return build_profile(tiny_spec(), "v1", frame, scores, list(labels), source="test"), frame, scores


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rec in frame.to_dict("records"):
        t = rec["temperature"]
        rec["temperature"] = None if t is None or (isinstance(t, float) and math.isnan(t)) else float(t)
        rec["flag"] = bool(rec["flag"])
        if len(rows) % 97 == 0:
            rec["store_id"] = "zz"  # a category unseen in training
        rows.append(rec)
    return rows


def _events(rows: list[dict[str, Any]], scores: np.ndarray, labels: list[str]) -> list[InferenceEvent]:
    events = []
    for i, (row, score, label) in enumerate(zip(rows, scores, labels, strict=True)):
        features = {**row, "flag": "true" if row["flag"] else "false"}
        events.append(
            InferenceEvent(
                prediction_id=uuid.uuid4().hex,
                timestamp=T0 + timedelta(milliseconds=i),
                model_name="tiny",
                model_version="v1",
                features=features,
                missing=[k for k, v in row.items() if v is None],
                prediction_label=label,
                score=float(score),
            )
        )
    return events


def _samples(registry: CollectorRegistry, name: str) -> list[Sample]:
    return [Sample(dict(s.labels), s.value) for metric in registry.collect() for s in metric.samples if s.name == name]


def _by_feature(samples: list[Sample], feature: str) -> list[Sample]:
    return [s for s in samples if s.labels.get("feature") == feature]


def _served(registry: CollectorRegistry, engine: Baseline, rows: int) -> dict[str, BinnedCounts]:
    """What ``ServeCountsReader.counts`` builds from Prometheus's sums, here from the registry's own samples."""
    missing = {s.labels["feature"]: s.value for s in _samples(registry, "mlmon_feature_missing_total")}
    bins = _samples(registry, "mlmon_feature_bin_total")
    offsets = _samples(registry, "mlmon_feature_bin_offset_total")
    categories = _samples(registry, "mlmon_feature_category_total")
    current: dict[str, BinnedCounts] = {}
    for name, base in engine.features.items():
        if isinstance(base, NumericBaseline) and base.role == "input":
            current[name] = numeric_counts(
                name, base, _by_feature(bins, name), _by_feature(offsets, name), missing[name]
            )
        elif isinstance(base, CategoricalBaseline) and base.role == "input":
            by_category = {s.labels["category"]: s.value for s in _by_feature(categories, name)}
            current[name] = categorical_counts(name, base, by_category, missing[name])
    score = engine.features[PREDICTION]
    assert isinstance(score, NumericBaseline)
    bounds, counts = histogram_bins(_samples(registry, "mlmon_prediction_bucket"))
    np.testing.assert_allclose(bounds, score.edges)
    current[PREDICTION] = BinnedCounts(PREDICTION, np.array(counts), 0, round(sum(counts)))
    label = engine.features[PREDICTED_CLASS]
    assert isinstance(label, CategoricalBaseline)
    by_class = {s.labels["class"]: s.value for s in _samples(registry, "mlmon_predicted_class_total")}
    current[PREDICTED_CLASS] = categorical_counts(PREDICTED_CLASS, label, by_class, rows - sum(by_class.values()))
    return current


def _store_counts(store: SQLiteStore, engine: Baseline) -> dict[str, BinnedCounts]:
    field: dict[str, str] = {PREDICTION: DocField.SCORE, PREDICTED_CLASS: DocField.PREDICTED_LABEL}
    bins: list[BinSpec] = []
    for name, base in engine.features.items():
        if isinstance(base, NumericBaseline):
            bins.append(NumericBins(field.get(name, name), [float(e) for e in base.edges]))
        elif isinstance(base, CategoricalBaseline):
            bins.append(CategoryBins(field.get(name, name), list(base.categories)))
    got = store.binned_counts(TimeWindow(T0, T0 + timedelta(hours=1)), bins, model_version="v1")
    reverse = {v: k for k, v in field.items()}
    return {reverse.get(k, k): v for k, v in got.items()}


def _by_key(checks: list[FeatureComparison]) -> dict[str, FeatureComparison]:
    return {c.key: c for c in checks}


def test_serve_time_counts_give_the_store_binned_result_and_near_exact_wasserstein(tmp_path: Path) -> None:
    profile, train, _ = _training()
    engine = from_profile(
        profile,
        reference_values={"x": train["x"].to_numpy(), "temperature": train["temperature"].to_numpy()},
    )
    window = _frame(N, seed=7, shift=4.0)  # x shifted
    rows = _rows(window)
    scores = np.random.default_rng(8).beta(2.4, 5, N)
    labels = ["yes" if s >= 0.5 else "no" for s in scores]

    registry = CollectorRegistry()
    inst = instrument(FastAPI(), registry=registry, spec=tiny_spec(), profile=profile, model_version="v1")
    for start in range(0, N, 250):  # requests of 1..250 rows
        size = 1 if start % 1000 == 0 else 250
        inst.inputs.record(rows[start : start + size])
        inst.outputs.record_many(
            list(scores[start : start + size]), labels[start : start + size], ["ok"] * len(rows[start : start + size])
        )
        if size == 1:
            inst.inputs.record(rows[start + 1 : start + 250])
            inst.outputs.record_many(
                list(scores[start + 1 : start + 250]), labels[start + 1 : start + 250], ["ok"] * 249
            )

    store = SQLiteStore(tmp_path / "inference.db", tiny_spec())
    store.ensure_schema()
    store.write_events(_events(rows, scores, labels))
    try:
        from_store = _store_counts(store, engine)
    finally:
        store.close()
    served = _served(registry, engine, N)

    for name, want in from_store.items():
        got = served[name]
        assert got.missing == want.missing and got.total == want.total == N, name
        if name == PREDICTION:  # Prometheus's own histogram: a score on an edge counts below it (none here)
            np.testing.assert_allclose(got.counts, want.counts)
            continue
        np.testing.assert_allclose(got.counts, want.counts, err_msg=name)
        if want.sums is not None:
            assert got.sums is not None
            np.testing.assert_allclose(got.sums, want.sums, rtol=1e-9, atol=1e-6, err_msg=name)

    binned_store = _by_key(compare(engine, from_store, rows=N, exact_max_rows=0))
    binned_served = _by_key(compare(engine, served, rows=N, exact_max_rows=0))
    assert binned_store.keys() == binned_served.keys()
    for key, want_check in binned_store.items():
        got_check = binned_served[key]
        assert got_check.effect is not None and want_check.effect is not None
        assert got_check.effect.test == want_check.effect.test, key
        assert got_check.effect.statistic == pytest.approx(want_check.effect.statistic, rel=1e-9, abs=1e-12), key
        assert got_check.cur_shares == pytest.approx(want_check.cur_shares, abs=1e-12), key
        if got_check.role != "output":  # the output's mean: the histogram's sum / count (below)
            assert got_check.summary.get("cur_mean") == pytest.approx(want_check.summary.get("cur_mean")), key
    assert binned_served["input:x"].effect is not None and binned_served["input:x"].effect.effect_passed

    total = sum(s.value for s in _samples(registry, "mlmon_prediction_sum"))
    assert total / N == pytest.approx(float(scores.mean()), rel=1e-9)

    raw = {"x": window["x"].to_numpy(), "temperature": window["temperature"].to_numpy()}
    exact = _by_key(compare(engine, raw, rows=N, exact_max_rows=10 * N))
    for name in raw:
        e, b = exact[f"input:{name}"].effect, binned_served[f"input:{name}"].effect
        assert e is not None and b is not None and e.test == "wasserstein" and b.test == "wasserstein_binned"
        # the shifted x within 5 %; the unshifted temperature's distance is sampling noise: close in absolute terms
        assert b.statistic == (
            pytest.approx(e.statistic, rel=0.05) if name == "x" else pytest.approx(e.statistic, abs=0.01)
        )


def test_other_edges_or_categories_make_the_counts_unusable() -> None:
    profile, _, _ = _training()
    engine = from_profile(profile)
    registry = CollectorRegistry()
    instrument(FastAPI(), registry=registry, spec=tiny_spec(), profile=profile, model_version="v1")
    x = engine.features["x"]
    assert isinstance(x, NumericBaseline)
    bins = _by_feature(_samples(registry, "mlmon_feature_bin_total"), "x")
    numeric_counts("x", x, bins, [], 0.0)  # the baseline's own edges: usable (no offsets: no sums)
    other = NumericBaseline(edges=x.edges * 1.01, shares=x.shares, min=x.min, max=x.max, std=x.std)
    with pytest.raises(CountsUnusable, match="not the baseline's edges"):
        numeric_counts("x", other, bins, [], 0.0)
    with pytest.raises(CountsUnusable, match="no serve-time bins"):
        numeric_counts("x", x, [], [], 0.0)
    store_id = engine.features["store_id"]
    assert isinstance(store_id, CategoricalBaseline)
    with pytest.raises(CountsUnusable, match="categories"):
        categorical_counts("store_id", store_id, {"a": 3.0, "zz": 1.0}, 0.0)
    counts = categorical_counts("store_id", store_id, {"a": 3.0, "b": 1.0, "c": 0.0, "zz": 2.0, "__other__": 1.0}, 4.4)
    assert counts.counts.tolist() == [3.0, 1.0, 0.0, 3.0] and counts.missing == 4 and counts.total == 11
