"""Z-test for two proportions (missing share, a predicted class share, a boolean's true share): two-sample.

Input: two bins per sample, ``[not x, x]``; the proportion tested is the share of the second bin. Both
proportions are estimates (the baseline's too), so the z score uses the pooled variance of both samples:
``z = (p_cur - p_ref) / sqrt(p̄(1-p̄)(1/n + 1/m))``; ``z²`` equals the 2×2 contingency chi-square
(``scipy.stats.chi2_contingency(correction=False)``) and the two-sided p-value its p-value. The statistic is the
effect size ``|p_cur - p_ref|`` (so the threshold reads "points of share"); the z score is kept in
``extra["z"]``. When both proportions are 0 or both are 1 the samples cannot differ: z = 0, p = 1.

The threshold is calibrated on the baseline at the window's sizes; practical floor 0.02 (two points of share).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mlmon.stats.base import Draws, Measurement, NullModel, SampleInput, StatsError, StatTest, shares
from mlmon.stats.power import proportion_mde


def two_proportion_z(x_ref: float, n_ref: float, x_cur: float, n_cur: float) -> tuple[float, float]:
    """``(z, two-sided p)`` with the pooled variance; NaN when a sample is empty."""
    if n_ref <= 0 or n_cur <= 0:
        return float("nan"), float("nan")
    pooled = (x_ref + x_cur) / (n_ref + n_cur)
    variance = pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur)
    if variance <= 0:
        return 0.0, 1.0
    z = (x_cur / n_cur - x_ref / n_ref) / math.sqrt(variance)
    return z, float(2.0 * stats.norm.sf(abs(z)))


def _null(ref: Draws, cur: Draws, data: SampleInput) -> np.ndarray:
    return np.asarray(np.abs(shares(cur.counts)[..., -1] - shares(ref.counts)[..., -1]))


def _noise_floor(data: SampleInput, n: float, m: float) -> float | None:
    if data.ref_counts is None or n <= 0 or m <= 0:
        return None
    p = float(shares(np.asarray(data.ref_counts, dtype=float))[-1])
    return math.sqrt(2.0 / math.pi) * math.sqrt(p * (1.0 - p) * (1.0 / n + 1.0 / m))


def measure(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("ztest")
    if ref.size != 2:
        raise StatsError(f"ztest: needs exactly two bins [not x, x], got {ref.size}")
    n, m = float(ref.sum()), float(cur.sum())
    z, p_value = two_proportion_z(float(ref[1]), n, float(cur[1]), m)
    p_ref = float(ref[1] / n) if n > 0 else float("nan")
    p_cur = float(cur[1] / m) if m > 0 else float("nan")
    mde = proportion_mde(p_ref, n, m, alpha) if np.isfinite(p_ref) else None
    return Measurement(abs(p_cur - p_ref), p_value, n, m, mde, {"z": z, "p_ref": p_ref, "p_cur": p_cur})


ZTEST = StatTest(
    name="ztest",
    display_name="Z-test for two proportions",
    kind="distance",
    feature_kinds=("boolean", "missing"),
    default_threshold=0.02,
    needs="counts",
    measure=measure,
    description="|difference of proportions| with the pooled two-proportion z-test p-value",
    proportion=True,
    null=NullModel(counts=_null, noise_floor=_noise_floor),
)
