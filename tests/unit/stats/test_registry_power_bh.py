"""Registry resolution, the multiple-testing correction and the smallest detectable effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlmon.errors import ConfigError
from mlmon.stats import power
from mlmon.stats.base import SampleInput
from mlmon.stats.multiple import bh_adjust, bh_reject
from mlmon.stats.registry import REGISTRY, get_test


def test_registry_names_every_test() -> None:
    assert set(REGISTRY) == {
        "ks",
        "ks_binned",
        "chi2",
        "psi",
        "jensenshannon",
        "wasserstein",
        "wasserstein_binned",
        "l1",
        "ztest",
    }
    for name, test in REGISTRY.items():
        assert test.name == name and get_test(name) is test
        assert test.kind in ("p_value", "distance")
        assert test.binned_variant is None or REGISTRY[test.binned_variant].needs == "counts"


def test_unknown_test_lists_the_available_names() -> None:
    with pytest.raises(ConfigError) as info:
        get_test("kolmogorov")
    text = str(info.value)
    assert "kolmogorov" in text
    for name in REGISTRY:
        assert name in text


def test_distance_tests_report_mde_in_their_unit() -> None:
    data = SampleInput(ref_counts=np.full(10, 1000.0), cur_counts=np.full(10, 500.0))
    for name in ("chi2", "psi", "jensenshannon", "l1"):
        result = REGISTRY[name](data)
        assert result.mde is not None and result.mde > 0, name
    assert REGISTRY["psi"](data).mde == pytest.approx(power.noncentrality(9) * (1 / 10_000 + 1 / 5_000))


# --- Benjamini–Hochberg ---------------------------------------------------------------------------------
def test_bh_hand_checked_example() -> None:
    # sorted p: .005 .01 .03 .04 → ×4/k: .02 .02 .04 .04 → running min from the top: same
    assert bh_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_bh_enforces_monotonicity_and_skips_missing() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, None, float("nan")]
    adjusted = bh_adjust(p)
    expected = [0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.074 * 8 / 7, 0.205]
    assert adjusted[:8] == pytest.approx(expected)
    assert np.isnan(adjusted[8:]).all()
    assert bh_reject(p, alpha=0.05).tolist() == [True, True] + [False] * 8


def test_bh_caps_at_one_and_handles_empty() -> None:
    assert bh_adjust([0.9, 0.95, 0.99]) == pytest.approx([0.99, 0.99, 0.99])
    assert bh_adjust([0.6, 0.7]).max() <= 1.0
    assert bh_adjust([]).size == 0
    with pytest.raises(ValueError):
        bh_adjust([1.5])


# --- power ----------------------------------------------------------------------------------------------------
def test_ks_critical_value() -> None:
    c = math.sqrt(-math.log(0.025) / 2)
    assert c == pytest.approx(1.3581, abs=1e-4)
    assert power.ks_critical(100, 100) == pytest.approx(c * math.sqrt(0.02))
    assert power.ks_critical(0, 100) is None


def test_noncentrality_for_one_degree_of_freedom_is_z_sum_squared() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert power.noncentrality(1) == pytest.approx(z**2, rel=1e-3)  # ≈ 7.85
    lam = power.noncentrality(19)
    assert stats.ncx2.sf(stats.chi2.ppf(0.95, 19), 19, lam) == pytest.approx(0.8, abs=1e-6)


def test_proportion_and_location_mde() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert power.proportion_mde(0.2, 1000, 1000) == pytest.approx(z * math.sqrt(0.16 * 0.002))
    floored = power.proportion_mde(0.0, 1000, 1000)
    assert floored is not None and floored > 0  # kept away from 0
    assert power.location_shift_mde(400, 400) == pytest.approx(z * math.sqrt(2 / 400))
    assert power.js_mde(4, 1000, 1000) == pytest.approx(
        math.sqrt(power.psi_mde(4, 1000, 1000) / (8 * math.log(2)))  # type: ignore[operator]
    )


def test_mde_shrinks_with_sample_size() -> None:
    def mdes(n: float) -> list[float | None]:
        return [power.ks_critical(n, n), power.psi_mde(19, n, n), power.proportion_mde(0.3, n, n)]

    for s, b in zip(mdes(1e3), mdes(1e6), strict=True):
        assert b is not None and s is not None
        assert b < s / 10


def test_psi_mde_is_detected_about_eighty_percent_of_the_time() -> None:
    """Empirical check of the approximation: shift mass so PSI ≈ MDE and count chi-square rejections."""
    rng = np.random.default_rng(7)
    k, n = 10, 5000
    base = np.full(k, 1 / k)
    mde = power.psi_mde(k - 1, n, n)
    assert mde is not None
    # move mass δ from bin 0 to bin 1: PSI ≈ 2δ²/(1/k) → δ = sqrt(mde / (2k))
    delta = math.sqrt(mde / (2 * k))
    shifted = base.copy()
    shifted[0] -= delta
    shifted[1] += delta
    hits = 0
    for _ in range(400):
        ref, cur = rng.multinomial(n, base), rng.multinomial(n, shifted)
        hits += REGISTRY["chi2"](SampleInput(ref_counts=ref, cur_counts=cur)).p_value < 0.05  # type: ignore[operator]
    assert 0.72 <= hits / 400 <= 0.88
