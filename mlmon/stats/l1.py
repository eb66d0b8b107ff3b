"""L1 / D1 distance between bin shares: ``d1 = Σ |p_i - q_i|``, in [0, 2] (twice the total variation).

Seed 000 asks for it by name: it reads as "how much probability mass moved", counted on both sides.
"""

from __future__ import annotations

import numpy as np

from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed, shares


def d1(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    return float(np.sum(np.abs(shares(ref_counts) - shares(cur_counts))))


def run(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("l1")
    n, m = float(ref.sum()), float(cur.sum())
    df = int(np.count_nonzero((ref + cur) > 0)) - 1
    statistic = d1(ref, cur) if n > 0 and m > 0 else float("nan")
    return TestResult(
        test="l1",
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.l1_mde(df, n, m, alpha),
        effect_passed=passed("distance", statistic, None, threshold),
    )


L1 = StatTest(
    name="l1",
    display_name="L1 / D1 distance",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.2,
    needs="counts",
    run=run,
    description="sum of absolute differences of bin shares, in [0, 2]",
)
