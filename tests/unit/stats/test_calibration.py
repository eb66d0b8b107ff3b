"""Thresholds calibrated on the baseline: where each comes from, the cache, and what small samples change."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mlmon.spec import DriftOverride
from mlmon.stats.baseline import PREDICTION, Baseline, CategoricalBaseline, NumericBaseline, from_profile
from mlmon.stats.binning import numeric_counts
from mlmon.stats.calibration import NullCalibration, bucket_size, size_bucket, upper_quantile
from mlmon.stats.engine import FeatureComparison, calibrate, compare
from mlmon.stats.registry import REGISTRY

RNG = np.random.default_rng(2026)


def _by_key(results: list[FeatureComparison]) -> dict[str, FeatureComparison]:
    return {r.key: r for r in results}


def _baseline(n: int = 20_000) -> Baseline:
    rng = np.random.default_rng(n)
    return Baseline(
        rows=n,
        features={
            "x": NumericBaseline.from_values(rng.lognormal(1.0, 0.6, n), keep_values=True),
            "store_id": CategoricalBaseline.from_values(
                rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).astype(object)
            ),
            PREDICTION: NumericBaseline.from_values(rng.beta(2, 5, n), role="output"),
        },
    )


def test_size_buckets_are_quarter_powers_of_two() -> None:
    assert size_bucket(1024) == 40 and bucket_size(40) == 1024
    assert size_bucket(1100) == 40 and size_bucket(1250) == 41
    for n in (150, 1_000, 77_777, 10**6):
        centre = bucket_size(size_bucket(n))
        assert abs(math.log2(n / centre)) <= 1 / 8 + 1e-12  # within half a step of 2^(1/4)


def test_upper_quantile_keeps_the_exceedance_within_one_percent_on_atoms() -> None:
    continuous = np.arange(1000.0)
    assert upper_quantile(continuous, 0.99) == 990.0  # reached by 10 of 1,000 draws
    atoms = np.concatenate([np.zeros(985), np.ones(10), np.full(5, 2.0)])
    assert upper_quantile(atoms, 0.99) == 2.0  # 1.0 is reached by 15 draws, more than 1 %
    assert math.isnan(upper_quantile(np.array([np.nan]), 0.99))


def test_sources_calibrated_at_small_sizes_floor_at_large_override_and_alpha() -> None:
    base = _baseline()
    small = _by_key(compare(base, {"x": RNG.lognormal(1.0, 0.6, 150), PREDICTION: RNG.beta(2, 5, 150)}))
    effect = small["input:x"].effect
    assert effect is not None and effect.threshold_source == "calibrated"
    assert effect.threshold == effect.null_quantile and effect.threshold > 0.05
    assert effect.noise_floor is not None and effect.noise_floor < effect.threshold
    assert small["input:x"].significance.threshold_source == "alpha"
    big = _by_key(compare(base, {"x": RNG.lognormal(1.0, 0.6, 200_000)}))
    effect = big["input:x"].effect
    assert effect is not None and effect.test == "wasserstein_binned"
    assert (effect.threshold, effect.threshold_source) == (0.05, "floor")
    assert effect.null_quantile is not None and effect.null_quantile < 0.05
    fixed = _by_key(compare(base, {"x": RNG.lognormal(1.0, 0.6, 150)}, overrides={"x": DriftOverride(threshold=0.3)}))
    assert (fixed["input:x"].effect.threshold, fixed["input:x"].effect.threshold_source) == (0.3, "override")
    sig = _by_key(
        compare(base, {"x": RNG.lognormal(1.0, 0.6, 150)}, overrides={"x": DriftOverride(test="ks", threshold=0.01)})
    )
    assert sig["input:x"].significance.threshold_source == "override"
    assert sig["input:x"].effect.threshold_source == "calibrated"
    floors = _by_key(compare(base, {"x": RNG.lognormal(1.0, 0.6, 150)}, calibrate=False))
    assert floors["input:x"].effect.threshold_source == "floor"


def test_psi_of_a_small_output_sample_is_judged_against_its_noise() -> None:
    """~150 baseline scores against ~150 unchanged ones: PSI reads ≈ 19·(1/n + 1/m) ≈ 0.25 from noise alone; the
    calibrated threshold sits above what unchanged windows read, so they do not pass, and a real shift does."""
    rng = np.random.default_rng(5)
    scores = rng.beta(2, 5, 150)
    base = Baseline(150, {PREDICTION: NumericBaseline.from_values(scores, role="output", keep_values=True)})
    passed, values = 0, []
    for _ in range(200):
        output = compare(base, {PREDICTION: rng.beta(2, 5, 160)})[0]
        assert output.effect is not None and output.effect.test == "psi"
        assert output.n_ref == 150 and output.n_cur == 160
        values.append(output.effect.statistic)
        passed += output.effect.effect_passed
    assert np.mean(values) == pytest.approx(19 * (1 / 150 + 1 / 160), rel=0.25)  # the sampling-noise floor
    assert np.mean(values) > 0.1  # the old fixed threshold would have fired every time
    threshold = output.effect.threshold
    assert output.effect.noise_floor == pytest.approx(19 * (1 / 150 + 1 / 160))
    assert threshold > 2 * output.effect.noise_floor and passed <= 6  # ~1 %
    shifted = compare(base, {PREDICTION: rng.beta(3, 3, 160)})[0]
    assert shifted.effect is not None and shifted.effect.effect_passed


def _window(n: int) -> dict[str, np.ndarray]:
    return {
        "x": RNG.lognormal(1.0, 0.6, n),
        "store_id": RNG.choice(["a", "b", "c"], n).astype(object),
        PREDICTION: RNG.beta(2, 5, n),
    }


def test_thresholds_are_cached_by_feature_test_and_bucket_and_are_deterministic() -> None:
    base = _baseline()
    window = _window(1000)
    first = _by_key(compare(base, window))
    drawn = base.calibration.draws
    assert drawn == 3
    again = _by_key(compare(base, _window(1050)))  # same bucket: nothing drawn
    assert base.calibration.draws == drawn
    # within a bucket the threshold scales with sqrt(1/n + 1/m)
    ratio = math.sqrt((1 / base.features["x"].values.size + 1 / 1050) / (1 / base.features["x"].values.size + 1 / 1000))
    assert again["input:x"].effect.threshold == pytest.approx(first["input:x"].effect.threshold * ratio)
    compare(base, _window(1500))  # the next bucket
    assert base.calibration.draws == drawn + 3
    twin = _baseline()  # the same baseline built again: the same thresholds
    assert _by_key(compare(twin, window))["input:x"].effect.threshold == first["input:x"].effect.threshold


def test_calibrate_ahead_prepares_what_a_run_needs() -> None:
    base = _baseline()
    drawn = calibrate(base, 5_000)
    assert drawn == 3  # x (raw Wasserstein), store_id (Jensen–Shannon), prediction (PSI)
    compare(base, _window(5_000))
    assert base.calibration.draws == drawn
    assert calibrate(base, 5_000) == 0


def test_raw_wasserstein_null_matches_a_brute_force_resampling() -> None:
    """Large sizes use the bridge limit, small ones a smoothed bootstrap; both agree with resampling the
    reference by brute force within the Monte Carlo error."""
    reference = np.sort(np.random.default_rng(1).lognormal(0.0, 0.7, 5000))
    base = NumericBaseline.from_values(reference, keep_values=True)
    calibration = NullCalibration()
    rng = np.random.default_rng(2)
    for n in (200, 4000):
        brute = [
            stats.wasserstein_distance(rng.choice(reference, 5000), rng.choice(reference, n)) / base.std
            for _ in range(1000)
        ]
        data = SimpleNamespace(presorted=None, ref_values=base.values, ref_std=base.std, ref_min=None, ref_max=None)
        null = calibration.null_quantile("x", REGISTRY["wasserstein"], data, 5000, n)  # type: ignore[arg-type]
        assert null == pytest.approx(np.quantile(brute, 0.99), rel=0.15), n


def test_two_sample_chi_square_uses_the_reference_sample_it_has() -> None:
    """The reference is a sample: the chi-square is the contingency test of its counts (shares × its size, the
    profile's count) against the window's, not a goodness-of-fit test against its shares."""
    profile = SimpleNamespace(
        rows=688,
        features={
            "day_type": SimpleNamespace(
                type="categorical", count=688, missing_share=0.0, categories={"holiday": 24 / 688, "workday": 664 / 688}
            )
        },
    )
    base = from_profile(profile)
    window = np.array(["workday"] * 168, dtype=object)
    check = _by_key(compare(base, {"day_type": window}))["input:day_type"]
    assert check.n_ref == 688 and check.n_cur == 168
    expected = stats.chi2_contingency(np.array([[24.0, 664.0, 0.0], [0.0, 168.0, 0.0]])[:, :2], correction=False)
    assert check.significance is not None and check.significance.test == "chi2"
    assert check.significance.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    goodness_of_fit = stats.chisquare([0.0, 168.0], [168 * 24 / 688, 168 * 664 / 688])
    assert check.significance.p_value > goodness_of_fit.pvalue  # the baseline's own noise counts


def test_the_output_check_reports_the_n_it_used() -> None:
    """The output's baseline is the holdout's scores (profile ``prediction.count``), not every training row."""
    rng = np.random.default_rng(3)
    holdout = rng.beta(2, 5, 138)
    edges = np.quantile(holdout, np.arange(1, 10) / 10)
    counts = numeric_counts(holdout, edges).counts
    profile = SimpleNamespace(
        rows=688,
        features={},
        prediction=SimpleNamespace(
            kind="regression",
            count=138,
            score_edges=list(edges),
            bin_shares=list(counts / counts.sum()),
            class_shares={},
            mean=float(holdout.mean()),
            std=float(holdout.std()),
            min=float(holdout.min()),
            max=float(holdout.max()),
        ),
    )
    window = rng.beta(2, 5, 160)
    binned = _by_key(compare(from_profile(profile), {PREDICTION: numeric_counts(window, edges)}))["output:prediction"]
    assert (binned.n_ref, binned.n_cur) == (138, 160)
    assert binned.effect.n_ref == 138 and binned.significance.n_ref == 138
    exact = from_profile(profile, reference_values={PREDICTION: holdout})
    raw = _by_key(compare(exact, {PREDICTION: window}))["output:prediction"]
    assert raw.path == "exact" and (raw.n_ref, raw.n_cur) == (138, 160)
    assert raw.significance.test == "ks" and raw.significance.n_ref == 138
