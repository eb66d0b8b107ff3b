"""Z-test for two proportions (missing share, a predicted class share, a boolean's true share).

Input: two bins per sample, ``[not x, x]``; the proportion tested is the share of the second bin.
The statistic is the effect size ``|p_cur - p_ref|`` (so the threshold reads "10 points of missing share");
the pooled z score ``z = (p_cur - p_ref) / sqrt(p̄(1-p̄)(1/n + 1/m))`` gives the two-sided p-value and is
kept in ``extra["z"]``. When both proportions are 0 or both are 1 the samples cannot differ: z = 0, p = 1.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mlmon.errors import InvalidInput
from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed


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


def run(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("ztest")
    if ref.size != 2:
        raise InvalidInput("ztest", f"needs exactly two bins [not x, x], got {ref.size}")
    n, m = float(ref.sum()), float(cur.sum())
    z, p_value = two_proportion_z(float(ref[1]), n, float(cur[1]), m)
    p_ref = float(ref[1] / n) if n > 0 else float("nan")
    p_cur = float(cur[1] / m) if m > 0 else float("nan")
    statistic = abs(p_cur - p_ref)
    return TestResult(
        test="ztest",
        statistic=statistic,
        p_value=p_value,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.proportion_mde(p_ref, n, m, alpha) if np.isfinite(p_ref) else None,
        effect_passed=passed("distance", statistic, p_value, threshold),
        extra={"z": z, "p_ref": p_ref, "p_cur": p_cur},
    )


ZTEST = StatTest(
    name="ztest",
    display_name="Z-test for two proportions",
    kind="distance",
    feature_kinds=("boolean", "missing"),
    default_threshold=0.1,
    needs="counts",
    run=run,
    description="|difference of proportions| with the pooled two-proportion z-test p-value",
)
