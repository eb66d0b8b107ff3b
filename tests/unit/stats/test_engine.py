"""compare(): arrays and counts agree; edge cases give findings, not crashes; overrides; ordering."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mlmon.errors import ConfigError, InvalidInput
from mlmon.spec import DriftOverride
from mlmon.stats.baseline import Baseline, CategoricalBaseline, NumericBaseline, from_profile
from mlmon.stats.binning import OTHER, categorical_counts, numeric_counts
from mlmon.stats.engine import FeatureComparison, compare
from mlmon.stats.selection import choose_tests
from mlmon.store.base import OTHER as STORE_OTHER
from mlmon.store.base import BinnedCounts

RNG = np.random.default_rng(99)


def _by_key(results: list[FeatureComparison]) -> dict[str, FeatureComparison]:
    return {r.key: r for r in results}


def _numeric(base: Baseline, name: str) -> NumericBaseline:
    feature = base.features[name]
    assert isinstance(feature, NumericBaseline)
    return feature


def _baseline() -> Baseline:
    n = 20_000
    income = RNG.lognormal(10, 0.4, n)
    income[RNG.random(n) < 0.1] = np.nan
    return Baseline(
        rows=n,
        features={
            "income": NumericBaseline.from_values(income, keep_values=True),
            "channel": CategoricalBaseline.from_values(RNG.choice(["web", "app"], n).astype(object), ["web", "app"]),
            "score": NumericBaseline.from_values(RNG.beta(2, 5, n), role="output"),
        },
    )


def test_other_bin_name_matches_the_store_contract() -> None:
    assert OTHER == STORE_OTHER


def test_counts_and_arrays_give_the_same_numbers() -> None:
    """Counts with per-bin sums (what a store pushes down) give exactly what the engine computes from arrays."""
    base = _baseline()
    window = {
        "income": RNG.lognormal(10.1, 0.4, 80_000),
        "channel": RNG.choice(["web", "app", "tv"], 80_000).astype(object),
        "score": RNG.beta(2, 4, 80_000),
    }
    from_arrays = _by_key(compare(base, window, exact_max_rows=0))
    binned = {
        "income": numeric_counts(window["income"], _numeric(base, "income").edges),
        "channel": categorical_counts(window["channel"], ["web", "app"]),
        "score": numeric_counts(window["score"], _numeric(base, "score").edges),
    }
    from_counts = _by_key(compare(base, binned))
    assert from_arrays.keys() == from_counts.keys()
    for key, a in from_arrays.items():
        b = from_counts[key]
        for x, y in ((a.effect, b.effect), (a.significance, b.significance)):
            assert x is not None and y is not None
            assert (x.test, x.n_ref, x.n_cur, x.threshold_source) == (y.test, y.n_ref, y.n_cur, y.threshold_source)
            assert x.statistic == pytest.approx(y.statistic, rel=1e-12)
            assert x.threshold == pytest.approx(y.threshold, rel=1e-12)
            assert x.p_value == (None if y.p_value is None else pytest.approx(y.p_value, rel=1e-9))
    assert from_counts["input:income"].summary["cur_mean"] == pytest.approx(np.nanmean(window["income"]))
    assert from_counts["input:income"].summary["ref_mean"] == pytest.approx(np.nanmean(_numeric(base, "income").values))  # type: ignore[arg-type]


def test_store_counts_without_sums_use_the_uniform_histogram() -> None:
    base = _baseline()
    income = RNG.lognormal(10.1, 0.4, 80_000)
    store = BinnedCounts("income", *_nc(income, _numeric(base, "income").edges))
    result = _by_key(compare(base, {"income": store}))["input:income"]
    assert result.effect is not None and result.effect.test == "wasserstein_binned"
    assert result.effect.extra["sums"] == 0.0 and "cur_mean" not in result.summary
    with_sums = _by_key(compare(base, {"income": numeric_counts(income, _numeric(base, "income").edges)}))
    assert with_sums["input:income"].effect.extra["sums"] == 1.0


def _nc(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int, int]:
    c = numeric_counts(values, edges)
    return c.counts, c.missing, c.total


def _cc(values: np.ndarray, categories: list[str]) -> tuple[np.ndarray, int, int]:
    c = categorical_counts(values, categories)
    return c.counts, c.missing, c.total


def test_small_windows_use_exact_ks_and_raw_wasserstein() -> None:
    base = _baseline()
    income = RNG.lognormal(10.3, 0.4, 3000)
    result = _by_key(compare(base, {"income": income}, exact_max_rows=50_000))["input:income"]
    assert result.effect is not None and result.significance is not None
    assert (result.effect.test, result.significance.test) == ("wasserstein", "ks")
    ref = _numeric(base, "income").values
    assert ref is not None
    assert result.significance.statistic == pytest.approx(stats.ks_2samp(ref, income).statistic)
    assert result.effect.statistic == pytest.approx(
        stats.wasserstein_distance(ref, income) / _numeric(base, "income").std
    )


def test_absent_feature_is_a_quality_finding_not_a_crash() -> None:
    results = _by_key(compare(_baseline(), {"income": RNG.lognormal(10, 0.4, 1000)}))
    channel = results["input:channel"]
    assert channel.effect is None and channel.n_cur == 0
    assert any("absent" in f for f in channel.findings)
    quality = results["quality:channel"]
    assert quality.effect is not None and quality.effect.statistic == pytest.approx(1.0)
    assert quality.n_cur == 1000 and quality.effect.effect_passed
    assert results["output:score"].effect is None


def test_all_missing_and_constant_columns() -> None:
    base = Baseline(
        rows=1000,
        features={
            "flat": NumericBaseline.from_values(np.full(1000, 7.0)),
            "x": NumericBaseline.from_values(RNG.normal(size=1000)),
        },
    )
    assert base.features["flat"].edges.size == 0
    results = _by_key(compare(base, {"flat": np.full(500, 7.0), "x": np.full(500, np.nan)}))
    flat = results["input:flat"]
    assert flat.effect is not None and flat.effect.statistic == 0.0 and "constant in the baseline" in flat.findings
    assert results["input:x"].effect is None and "every value is missing" in results["quality:x"].findings
    moved = _by_key(compare(base, {"flat": np.full(500, 9.0), "x": np.zeros(500)}))
    assert any("outside the baseline range" in f for f in moved["input:flat"].findings)
    assert any("constant in the window" in f for f in moved["input:x"].findings)


def test_nan_inf_and_new_categories() -> None:
    base = _baseline()
    income = RNG.lognormal(10, 0.4, 5000)
    income[:10] = np.inf
    income[10:20] = -np.inf
    income[20:500] = np.nan
    channel = RNG.choice(["web", "app", "smart-tv"], 5000, p=[0.4, 0.4, 0.2]).astype(object)
    results = _by_key(compare(base, {"income": income, "channel": channel, "score": RNG.beta(2, 5, 5000)}))
    assert "20 non-finite values (±inf)" in results["input:income"].findings
    assert results["input:income"].n_cur == 4520
    assert results["quality:income"].summary["cur_missing_share"] == pytest.approx(480 / 5000)
    new = results["input:channel"]
    assert any("unseen in the baseline" in f for f in new.findings)
    assert new.cur_shares[-1] == pytest.approx(0.2, abs=0.02) and new.labels[-1] == OTHER
    assert all(np.isfinite(r.effect.statistic) for r in results.values() if r.effect)


def test_ordering_outputs_first_then_by_effect() -> None:
    base = _baseline()
    results = compare(
        base,
        {
            "income": RNG.lognormal(11, 0.4, 5000),
            "channel": RNG.choice(["web", "app"], 5000).astype(object),
            "score": RNG.beta(2, 5, 5000),
        },
    )
    assert results[0].role == "output"
    scores = [r.score for r in results[1:]]
    assert scores == sorted(scores, reverse=True)
    assert results[1].feature == "income"


def test_wrong_counts_shape_and_dtype_are_refused() -> None:
    base = _baseline()
    with pytest.raises(InvalidInput, match="income"):
        compare(base, {"income": BinnedCounts("income", np.ones(3), 0, 3)})
    with pytest.raises(InvalidInput, match="income"):
        compare(base, {"income": np.array(["a", "b"])})


def test_overrides() -> None:
    base = _baseline()
    window = {"income": RNG.lognormal(10.05, 0.4, 100_000)}
    results = _by_key(compare(base, window, overrides={"income": DriftOverride(test="psi", threshold=0.05)}))
    effect = results["input:income"].effect
    assert effect is not None and (effect.test, effect.threshold) == ("psi", 0.05)
    results = _by_key(compare(base, window, overrides={"income": DriftOverride(threshold=0.3)}))
    assert results["input:income"].effect.threshold == 0.3
    results = _by_key(compare(base, window, overrides={"income": DriftOverride(test="ks", threshold=0.01)}))
    sig = results["input:income"]
    assert sig.significance is not None and sig.significance.test == "ks_binned" and sig.alpha == 0.01
    with pytest.raises(ConfigError, match="does not apply"):
        compare(base, window, overrides={"income": DriftOverride(test="ztest")})
    with pytest.raises(ConfigError, match="available"):
        choose_tests("numeric", override=DriftOverride(test="nope"))


def test_boolean_ztest_override_and_defaults() -> None:
    choice = choose_tests("categorical")
    assert (choice.effect.name, choice.significance.name) == ("jensenshannon", "chi2")
    base = Baseline(1000, {"flag": CategoricalBaseline.from_values(RNG.random(1000) < 0.2, kind="boolean")})
    results = _by_key(compare(base, {"flag": RNG.random(4000) < 0.4}, overrides={"flag": DriftOverride(test="ztest")}))
    effect = results["input:flag"].effect
    assert effect is not None and effect.test == "ztest" and effect.statistic == pytest.approx(0.2, abs=0.04)


def test_from_profile() -> None:
    profile = SimpleNamespace(
        rows=1000,
        features={
            "age": SimpleNamespace(
                type="numeric",
                missing_share=0.1,
                min=18.0,
                max=90.0,
                std=12.0,
                edges=[30.0, 45.0, 60.0],
                bin_shares=[0.25, 0.25, 0.25, 0.25],
            ),
            "region": SimpleNamespace(type="categorical", missing_share=0.0, categories={"north": 0.6, "south": 0.4}),
        },
        prediction=SimpleNamespace(
            kind="classification",
            score_edges=[0.2, 0.5],
            bin_shares=[0.5, 0.3, 0.2],
            class_shares={"no_default": 0.8, "default": 0.2},
            mean=0.3,
            std=0.2,
            min=0.0,
            max=1.0,
        ),
    )
    base = from_profile(profile)
    assert set(base.features) == {"age", "region", "prediction", "predicted_class"}
    assert base.features["prediction"].role == "output" and base.features["predicted_class"].role == "output"
    results = _by_key(
        compare(
            base,
            {"age": np.array([20.0, 50, 70, np.nan] * 100), "region": np.array(["north", "south"] * 200, dtype=object)},
            rows=400,
        )
    )
    assert results["input:age"].n_ref == 900 and results["input:age"].n_cur == 300
    assert results["quality:age"].n_cur == 400
    assert results["input:region"].effect.test == "jensenshannon"
