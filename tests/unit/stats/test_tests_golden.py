"""Golden values for every registered test: against scipy where scipy has the test, by hand otherwise."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import spatial, stats

from mlmon.stats.base import SampleInput, StatsError
from mlmon.stats.baseline import Baseline, NumericBaseline
from mlmon.stats.binning import numeric_counts
from mlmon.stats.chi2 import chi2_homogeneity
from mlmon.stats.engine import compare
from mlmon.stats.histogram import means_w1
from mlmon.stats.jensenshannon import js_distance
from mlmon.stats.ks import ks_binned_statistic
from mlmon.stats.l1 import d1
from mlmon.stats.psi import EPSILON, psi
from mlmon.stats.registry import REGISTRY
from mlmon.stats.wasserstein import binned_distance
from mlmon.stats.ztest import two_proportion_z

RNG = np.random.default_rng(20261122)


# --- Kolmogorov–Smirnov -------------------------------------------------------------------------------
def test_ks_exact_hand_computed() -> None:
    result = REGISTRY["ks"](SampleInput(ref_values=np.array([1.0, 2, 3, 4]), cur_values=np.array([3.0, 4, 5, 6])))
    assert result.statistic == pytest.approx(0.5)  # at x in [2, 3): F_ref = 0.5, F_cur = 0
    assert (result.n_ref, result.n_cur) == (4, 4)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
@pytest.mark.parametrize(("n", "m", "method"), [(3000, 2000, "asymp"), (400, 300, "exact"), (150, 150, "exact")])
def test_ks_exact_matches_scipy(shift: float, n: int, m: int, method: str) -> None:
    """The statistic always equals scipy's; the p-value is scipy's exact one up to n·m = 250,000, else its
    asymptotic one."""
    ref, cur = RNG.normal(size=n), RNG.normal(shift, 1.0, size=m)
    result = REGISTRY["ks"](SampleInput(ref_values=ref, cur_values=cur))
    expected = stats.ks_2samp(ref, cur, method=method)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-15)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.effect_passed == (expected.pvalue < 0.05)
    assert (result.threshold, result.threshold_source) == (0.05, "alpha")


def test_ks_exact_with_ties_and_infinities_matches_scipy() -> None:
    ref = np.concatenate([RNG.poisson(3, 2000).astype(float), [np.inf, -np.inf]])
    cur = np.concatenate([RNG.poisson(3.2, 1500).astype(float), [np.inf]])
    result = REGISTRY["ks"](SampleInput(ref_values=ref, cur_values=cur))
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-15)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_ks_exact_drops_nan() -> None:
    ref, cur = RNG.normal(size=500), RNG.normal(size=400)
    with_nan = np.concatenate([cur, [np.nan] * 50])
    result = REGISTRY["ks"](SampleInput(ref_values=ref, cur_values=with_nan))
    assert result.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic)
    assert result.n_cur == 400


def test_ks_binned_equals_scipy_asymptotic_when_bins_hold_single_values() -> None:
    ref, cur = RNG.integers(0, 10, 5000), RNG.integers(1, 10, 3000)
    edges = np.arange(0.5, 9.5)
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10)
    result = REGISTRY["ks_binned"](SampleInput(ref_counts=ref_counts, cur_counts=cur_counts))
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_binned_hand_computed_and_lower_bound() -> None:
    assert ks_binned_statistic(np.array([2.0, 2.0]), np.array([0.0, 4.0])) == pytest.approx(0.5)
    ref, cur = RNG.normal(size=4000), RNG.normal(0.2, 1, size=4000)
    edges = np.quantile(ref, np.linspace(0.1, 0.9, 9))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10)
    assert ks_binned_statistic(ref_counts, cur_counts) <= stats.ks_2samp(ref, cur).statistic + 1e-12


# --- chi-square -----------------------------------------------------------------------------------------
def test_chi2_hand_computed() -> None:
    statistic, p_value, df = chi2_homogeneity(np.array([10.0, 20.0]), np.array([20.0, 10.0]))
    assert statistic == pytest.approx(4 * 25 / 15)  # every expected count is 15
    assert df == 1
    assert p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)))  # chi2(1).sf(x) = erfc(sqrt(x/2))


@pytest.mark.parametrize("k", [2, 3, 7, 20])
def test_chi2_matches_scipy_contingency(k: int) -> None:
    ref = RNG.integers(0, 500, k).astype(float)
    cur = RNG.integers(1, 300, k).astype(float)
    result = REGISTRY["chi2"](SampleInput(ref_counts=ref, cur_counts=cur))
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result.extra["df"] == expected.dof


def test_chi2_drops_bins_empty_in_both_and_takes_fractional_counts() -> None:
    ref = np.array([0.0, 120.5, 0.0, 33.25, 80.0])
    cur = np.array([0.0, 100.0, 0.0, 50.0, 70.0])
    result = REGISTRY["chi2"](SampleInput(ref_counts=ref, cur_counts=cur))
    expected = stats.chi2_contingency(np.vstack([ref[[1, 3, 4]], cur[[1, 3, 4]]]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_chi2_single_bin_and_empty_sample() -> None:
    assert chi2_homogeneity(np.array([5.0, 0.0]), np.array([7.0, 0.0])) == (0.0, 1.0, 0)
    statistic, p_value, _ = chi2_homogeneity(np.array([5.0, 1.0]), np.array([0.0, 0.0]))
    assert math.isnan(statistic) and math.isnan(p_value)


# --- PSI ------------------------------------------------------------------------------------------------
def test_psi_hand_computed() -> None:
    value = psi(np.array([50.0, 50.0]), np.array([25.0, 75.0]))
    assert value == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi(np.array([3.0, 5.0, 2.0]), np.array([30.0, 50.0, 20.0])) == pytest.approx(0.0, abs=1e-15)


def test_psi_floors_empty_bins_at_epsilon() -> None:
    value = psi(np.array([50.0, 50.0]), np.array([100.0, 0.0]))
    assert value == pytest.approx(0.5 * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5))
    result = REGISTRY["psi"](SampleInput(ref_counts=np.array([50.0, 50.0]), cur_counts=np.array([100.0, 0.0])))
    assert result.statistic == pytest.approx(value)
    assert result.p_value is None and result.effect_passed


def test_psi_is_the_symmetric_kl_divergence_of_scipy() -> None:
    p, q = RNG.integers(1, 100, 12).astype(float), RNG.integers(1, 100, 12).astype(float)
    expected = stats.entropy(q, p) + stats.entropy(p, q)  # KL(q‖p) + KL(p‖q) = Σ (q - p)·ln(q/p)
    assert psi(p, q) == pytest.approx(expected, rel=1e-12)


def test_vectorised_statistics_equal_one_pair_at_a_time() -> None:
    """Calibration evaluates rows of resampled counts at once; each row must equal the single-pair value."""
    ref, cur = RNG.integers(0, 50, (30, 8)).astype(float), RNG.integers(0, 50, (30, 8)).astype(float)
    for many, one in ((psi(ref, cur), psi), (js_distance(ref, cur), js_distance), (d1(ref, cur), d1)):
        assert np.asarray(many) == pytest.approx([one(r, c) for r, c in zip(ref, cur, strict=True)], rel=1e-12)
    sums_ref, sums_cur = ref * RNG.uniform(1, 2, ref.shape), cur * RNG.uniform(1, 2, cur.shape)
    edges = np.arange(1.0, 2.0, 1 / 7)[:7]
    rows = means_w1(ref, sums_ref, cur, sums_cur, edges)
    singles = [means_w1(*args, edges) for args in zip(ref, sums_ref, cur, sums_cur, strict=True)]
    assert rows == pytest.approx(singles, rel=1e-12)


# --- Jensen–Shannon ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 5, 20])
def test_js_matches_scipy_base2(k: int) -> None:
    p, q = RNG.integers(0, 100, k).astype(float), RNG.integers(0, 100, k).astype(float)
    p[0], q[-1] = 0.0, 0.0  # empty bins on either side
    assert js_distance(p, q) == pytest.approx(spatial.distance.jensenshannon(p, q, base=2), rel=1e-12)


def test_js_hand_computed_bounds() -> None:
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_distance(np.array([2.0, 6.0]), np.array([1.0, 3.0])) == pytest.approx(0.0, abs=1e-8)
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); JSD = ½[½log2(2/3) + ½log2(2)] + ½[log2(4/3)]
    jsd = 0.5 * (0.5 * math.log2(2 / 3) + 0.5 * math.log2(2)) + 0.5 * math.log2(4 / 3)
    assert js_distance(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(math.sqrt(jsd))


# --- Wasserstein --------------------------------------------------------------------------------------------
def test_wasserstein_raw_matches_scipy_over_reference_std() -> None:
    ref, cur = RNG.lognormal(3, 0.5, 4000), RNG.lognormal(3.1, 0.5, 3000)
    result = REGISTRY["wasserstein"](SampleInput(ref_values=ref, cur_values=cur, ref_std=float(np.std(ref))))
    assert result.statistic == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref), rel=1e-12)
    # without ref_std the std of the reference sample is used
    again = REGISTRY["wasserstein"](SampleInput(ref_values=ref, cur_values=cur))
    assert again.statistic == pytest.approx(result.statistic)


def test_wasserstein_raw_location_shift_is_the_shift_in_std_units() -> None:
    ref = RNG.normal(10, 2, 5000)
    result = REGISTRY["wasserstein"](SampleInput(ref_values=ref, cur_values=ref + 0.5, ref_std=2.0))
    assert result.statistic == pytest.approx(0.25)


def test_wasserstein_binned_hand_computed() -> None:
    # U[0,2] against U[1,2]: W1 = ∫|2u - (1+u)| du over [0,1] = 0.5
    distance = binned_distance(np.array([1.0, 1.0]), np.array([0.0, 2.0]), np.array([1.0]), 0.0, 2.0)
    assert distance == pytest.approx(0.5)
    # CDF difference changing sign inside a bin: U[0,1] against U[0.5, 1.5] split on [0, 0.5, 1, 1.5]
    distance = binned_distance(np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]), np.array([0.5, 1.0]), 0.0, 1.5)
    assert distance == pytest.approx(0.5)
    result = REGISTRY["wasserstein_binned"](
        SampleInput(
            ref_counts=np.array([1.0, 1.0]),
            cur_counts=np.array([0.0, 2.0]),
            edges=np.array([1.0]),
            ref_min=0.0,
            ref_max=2.0,
            ref_std=0.5,
        )
    )
    assert result.statistic == pytest.approx(1.0)


def test_wasserstein_binned_is_w1_between_piecewise_uniform_histograms() -> None:
    edges = np.array([1.0, 2.5, 3.0, 6.0])
    ref_counts, cur_counts = np.array([3.0, 1, 4, 1, 5]), np.array([9.0, 2, 6, 5, 3])
    bounds = np.concatenate([[0.0], edges, [7.0]])

    def spread(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # 4000 evenly spaced points per bin stand in for the uniform density inside the bin
        points = [np.linspace(a, b, 4001)[:-1] + (b - a) / 8000 for a, b in itertools.pairwise(bounds)]
        weights = [np.full(4000, c / 4000) for c in counts]
        return np.concatenate(points), np.concatenate(weights)

    (u, uw), (v, vw) = spread(ref_counts), spread(cur_counts)
    expected = stats.wasserstein_distance(u, v, uw, vw)
    assert binned_distance(ref_counts, cur_counts, edges, 0.0, 7.0) == pytest.approx(expected, rel=1e-3)


def _columns(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(len(kind))
    if kind == "lognormal x1.2":
        return rng.lognormal(2, 0.7, n), 1.2 * rng.lognormal(2, 0.7, n)
    if kind == "lognormal +0.25 sd":
        return rng.lognormal(2, 0.7, n), rng.lognormal(2, 0.7, n) + 0.25 * 8.4
    if kind == "lognormal sigma 1 vs 1.2":
        return rng.lognormal(0, 1.0, n), rng.lognormal(0, 1.2, n)
    if kind == "normal scaled x1.2":
        return rng.normal(10, 2, n), 10 + 1.2 * (rng.normal(10, 2, n) - 10)
    if kind == "normal +0.1 sd":
        return rng.normal(10, 2, n), rng.normal(10.2, 2, n)
    if kind == "exponential x1000 (beyond the range)":
        return rng.exponential(3, n), 1000 * rng.exponential(3, n)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "lognormal x1.2",
        "lognormal +0.25 sd",
        "lognormal sigma 1 vs 1.2",
        "normal scaled x1.2",
        "normal +0.1 sd",
        "exponential x1000 (beyond the range)",
    ],
)
def test_binned_wasserstein_with_sums_matches_scipy_within_five_percent(kind: str) -> None:
    """Golden: counts and per-bin sums on the baseline's 20 equal-mass bins give scipy's raw-value distance
    within 5 %, heavy tails and the open outer bins included; counts alone are far off."""
    ref, cur = _columns(kind, 100_000)
    exact = stats.wasserstein_distance(ref, cur)
    base = NumericBaseline.from_values(ref)
    window = numeric_counts(cur, base.edges)
    assert base.bin_means is not None and window.sums is not None
    ref_counts = base.shares * ref.size
    binned = means_w1(ref_counts, ref_counts * base.bin_means, window.counts, window.sums, base.edges)
    assert binned == pytest.approx(exact, rel=0.05)
    uniform = binned_distance(ref_counts, window.counts, base.edges, base.min, base.max)
    assert abs(uniform / exact - 1) > 0.1  # what counts alone read (the path-dependent answer of issue 13)
    # the same through the engine: the binned path reads what the exact path reads
    baseline = Baseline(ref.size, {"x": NumericBaseline.from_values(ref, keep_values=True)})
    on_counts = compare(baseline, {"x": cur}, exact_max_rows=0)[0].effect
    on_values = compare(baseline, {"x": cur}, exact_max_rows=10**6)[0].effect
    assert on_counts is not None and on_values is not None
    assert (on_counts.test, on_values.test) == ("wasserstein_binned", "wasserstein")
    assert on_counts.statistic == pytest.approx(on_values.statistic, rel=0.05)
    assert on_values.statistic == pytest.approx(exact / base.std, rel=1e-9)


def test_binned_means_follow_the_sums() -> None:
    """The reported means on the binned path are the sums' means, exactly the raw means."""
    ref, cur = _columns("lognormal x1.2", 50_000)
    baseline = Baseline(ref.size, {"x": NumericBaseline.from_values(ref)})
    check = compare(baseline, {"x": numeric_counts(cur, baseline.features["x"].edges)})[0]
    assert check.summary["ref_mean"] == pytest.approx(ref.mean(), rel=1e-9)
    assert check.summary["cur_mean"] == pytest.approx(cur.mean(), rel=1e-9)


def test_wasserstein_binned_needs_edges() -> None:
    with pytest.raises(StatsError, match="edges"):
        REGISTRY["wasserstein_binned"](SampleInput(ref_counts=np.ones(2), cur_counts=np.ones(2)))


# --- L1 and Z-test ------------------------------------------------------------------------------------------
def test_l1_hand_computed() -> None:
    assert d1(np.array([50.0, 50.0]), np.array([25.0, 75.0])) == pytest.approx(0.5)
    assert d1(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(2.0)
    result = REGISTRY["l1"](SampleInput(ref_counts=np.array([2.0, 2, 0]), cur_counts=np.array([1.0, 1, 2])))
    assert result.statistic == pytest.approx(1.0)


def test_ztest_hand_computed() -> None:
    z, p = two_proportion_z(50, 100, 70, 100)
    assert z == pytest.approx(0.2 / math.sqrt(0.6 * 0.4 * 0.02))
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    result = REGISTRY["ztest"](SampleInput(ref_counts=np.array([50.0, 50.0]), cur_counts=np.array([30.0, 70.0])))
    assert result.statistic == pytest.approx(0.2)
    assert result.p_value == pytest.approx(p)
    assert result.extra["z"] == pytest.approx(z)
    assert result.effect_passed  # 0.2 >= 0.1


def test_ztest_squared_is_scipys_two_by_two_contingency_chi_square() -> None:
    """Two-sample: the pooled z² is chi2_contingency of [not x, x] × [reference, current], same p-value."""
    for x_ref, n_ref, x_cur, n_cur in ((50, 400, 70, 300), (3, 688, 0, 168), (900, 1000, 4700, 5000)):
        z, p = two_proportion_z(x_ref, n_ref, x_cur, n_cur)
        table = np.array([[n_ref - x_ref, x_ref], [n_cur - x_cur, x_cur]], dtype=float)
        expected = stats.chi2_contingency(table, correction=False)
        assert z**2 == pytest.approx(expected.statistic, rel=1e-9)
        assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_ztest_identical_degenerate_and_shape() -> None:
    assert two_proportion_z(0, 100, 0, 50) == (0.0, 1.0)
    result = REGISTRY["ztest"](SampleInput(ref_counts=np.array([10.0, 0.0]), cur_counts=np.array([5.0, 0.0])))
    assert result.statistic == 0.0 and result.p_value == 1.0 and not result.effect_passed
    with pytest.raises(StatsError, match="two bins"):
        REGISTRY["ztest"](SampleInput(ref_counts=np.ones(3), cur_counts=np.ones(3)))


def test_inputs_that_break_an_invariant_are_stats_errors_not_user_errors() -> None:
    """The engine validates what users send (InvalidInput, naming the feature); a test handed inconsistent data by
    its caller is a bug: StatsError, a ValueError."""
    assert issubclass(StatsError, ValueError)
    with pytest.raises(StatsError, match="differ"):
        REGISTRY["chi2"](SampleInput(ref_counts=np.ones(3), cur_counts=np.ones(4)))
    with pytest.raises(StatsError, match="non-negative"):
        REGISTRY["psi"](SampleInput(ref_counts=np.array([1.0, -1.0]), cur_counts=np.ones(2)))
    with pytest.raises(StatsError, match="raw values"):
        REGISTRY["ks"](SampleInput(ref_counts=np.ones(2), cur_counts=np.ones(2)))
