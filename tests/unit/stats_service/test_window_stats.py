"""Window statistics computed by the store (SQL) equal numpy on the same events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmon.baseline.profile import BaselineProfile, CategoricalProfile, NumericProfile, build_profile
from mlmon.spec import ModelSpec, load_spec
from mlmon.store.base import TimeWindow
from mlmon.store.sqlite import SQLiteStore
from stats_service.window_stats import PERCENTILES, response_shares, window_statistics
from tests.unit.drift_detector.helpers import SPEC_PATH, events_from_frame, feature_rows, utc_now

N = 1500


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def profile(spec: ModelSpec) -> BaselineProfile:
    rng = np.random.default_rng(1)
    frame = feature_rows(3000, seed=1)
    return build_profile(spec, "v1", frame, rng.beta(2, 5, 3000), source="test")


def _window_frame() -> pd.DataFrame:
    def shift(frame: pd.DataFrame) -> None:
        rng = np.random.default_rng(99)
        # Some values beyond the baseline range, unseen categories and extra gaps.
        frame.loc[frame.index[:60], "income"] = frame["income"].iloc[:60] * 40
        frame.loc[frame.index[60:90], "age"] = 12.0
        frame.loc[rng.random(len(frame)) < 0.1, "bureau_score"] = np.nan
        frame.loc[frame.index[100:175], "channel"] = "kiosk"
        frame.loc[frame.index[175:190], "region"] = None

    return feature_rows(N, seed=2, transform=shift)


@pytest.fixture
def filled(tmp_path: Path, spec: ModelSpec) -> Iterator[tuple[SQLiteStore, pd.DataFrame, np.ndarray, TimeWindow]]:
    frame = _window_frame()
    rng = np.random.default_rng(3)
    scores: list[float | None] = list(rng.beta(2, 4, N))
    for i in range(0, N, 97):
        scores[i] = None  # non-finite scores are stored as null
    kinds = rng.choice(["ok", "empty", "fallback"], size=N, p=[0.9, 0.06, 0.04])
    end = utc_now()
    store = SQLiteStore(tmp_path / "stats.db", spec)
    store.ensure_schema()
    result = store.write_events(
        events_from_frame(spec, frame, scores, version="v1", end=end, span_s=1800, response_kinds=list(kinds))
    )
    assert result.stored == N and not result.rejected
    # Events outside the window must not count.
    outside = events_from_frame(
        spec, feature_rows(50, seed=4), [0.9] * 50, version="v1", end=end - timedelta(hours=1), span_s=600, prefix="old"
    )
    assert store.write_events(outside).stored == 50
    score_array = np.array([np.nan if s is None else s for s in scores])
    yield store, frame, score_array, TimeWindow(end - timedelta(minutes=30), end)
    store.close()


def _expected_numeric(values: np.ndarray, lo: float | None, hi: float | None) -> dict[str, float]:
    present = values[~np.isnan(values)]
    expected = {
        "count": float(present.size),
        "missing_share": 1 - present.size / values.size,
        "mean": float(present.mean()),
        "std": float(present.std()),  # population, as the store contract says
        "min": float(present.min()),
        "max": float(present.max()),
        **{f"p{p:g}": float(np.percentile(present, p)) for p in PERCENTILES},
    }
    if lo is not None and hi is not None:
        expected["out_of_range_share"] = float(np.mean((present < lo) | (present > hi)))
    return expected


def test_numeric_statistics_equal_numpy(filled, spec: ModelSpec, profile: BaselineProfile) -> None:
    store, frame, scores, window = filled
    stats = window_statistics(store, spec, profile, window, store.count(window))
    numeric = [f.name for f in spec.features if f.type == "numeric"]
    assert set(numeric) | {"prediction"} <= set(stats)
    for name in numeric:
        fp = profile.features[name]
        assert isinstance(fp, NumericProfile)
        expected = _expected_numeric(frame[name].to_numpy(dtype=float), fp.min, fp.max)
        assert stats[name] == pytest.approx(expected, rel=1e-9, abs=1e-9), name
    assert stats["income"]["out_of_range_share"] > 0.03  # the 60 scaled incomes are seen
    assert stats["age"]["out_of_range_share"] >= 30 / N  # the 30 under-age rows, plus the natural tail
    assert stats["bureau_score"]["missing_share"] > 0.1

    output = _expected_numeric(scores, None, None)
    output["nonfinite_share"] = output["missing_share"]
    labels = store.read_window(window, fields=[])["prediction.label"].dropna().value_counts().to_numpy(dtype=float)
    shares = labels / labels.sum()
    output["label_entropy_bits"] = float(-(shares * np.log2(shares)).sum())
    output["label_gini"] = float(1 - (shares**2).sum())
    assert stats["prediction"] == pytest.approx(output, rel=1e-9)
    assert stats["prediction"]["missing_share"] == pytest.approx(len(range(0, N, 97)) / N)


def test_categorical_statistics_equal_pandas(filled, spec: ModelSpec, profile: BaselineProfile) -> None:
    store, frame, _scores, window = filled
    stats = window_statistics(store, spec, profile, window, N)
    for feature in spec.features:
        if feature.type == "numeric" or feature.pii:
            continue
        fp = profile.features[feature.name]
        assert isinstance(fp, CategoricalProfile)
        column = frame[feature.name]
        if feature.type == "boolean":
            column = column.map(lambda v: None if pd.isna(v) else ("true" if v else "false"))
        present = column.dropna().astype(str)
        expected = {
            "count": float(len(present)),
            "missing_share": 1 - len(present) / len(column),
            "unseen_share": float((~present.isin(list(fp.categories))).mean()),
        }
        assert stats[feature.name] == pytest.approx(expected), feature.name
    assert stats["channel"]["unseen_share"] == pytest.approx(75 / N)
    assert stats["region"]["missing_share"] == pytest.approx(15 / N)
    assert "postcode" not in stats  # PII: never summarised


def test_response_shares(filled) -> None:
    store, _frame, _scores, window = filled
    shares = response_shares(store.response_counts(window))
    events = store.read_window(window, fields=[])
    expected = events["response.kind"].value_counts(normalize=True)
    for kind in ("ok", "empty", "fallback"):
        assert shares[f"{kind}_share"] == pytest.approx(expected.get(kind, 0.0))
    assert response_shares({"ok": 0, "empty": 0, "fallback": 0}) == {}


def test_empty_window_has_no_statistics(tmp_path: Path, spec: ModelSpec, profile: BaselineProfile) -> None:
    store = SQLiteStore(tmp_path / "empty.db", spec)
    store.ensure_schema()
    assert window_statistics(store, spec, profile, TimeWindow.last(3600), 0) == {}
    store.close()


def test_diversity_matches_scipy_entropy_and_gini_simpson() -> None:
    from scipy.stats import entropy

    from stats_service.window_stats import diversity

    counts = np.array([70.0, 25.0, 5.0, 0.0])
    got = diversity(counts)
    assert got["label_entropy_bits"] == pytest.approx(entropy(counts, base=2))
    assert got["label_gini"] == pytest.approx(1 - ((counts / counts.sum()) ** 2).sum())
    assert diversity(np.array([10.0, 0.0])) == {"label_entropy_bits": 0.0, "label_gini": 0.0}
    assert diversity(np.zeros(3)) == {}
