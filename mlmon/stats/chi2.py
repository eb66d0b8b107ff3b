"""Chi-square test of homogeneity on the 2×k table of reference and current counts.

Bins empty in both samples are dropped (they carry no information and would divide by zero); the result
then equals ``scipy.stats.chi2_contingency(table, correction=False)``. With one non-empty bin left
(``df = 0``) the samples cannot differ: statistic 0, p-value 1.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed


def chi2_homogeneity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float, int]:
    """``(statistic, p_value, df)``; NaN when one sample is empty."""
    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if (rows <= 0).any():
        return float("nan"), float("nan"), 0
    df = table.shape[1] - 1
    if df < 1:
        return 0.0, 1.0, 0
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, df)), df


def run(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("chi2")
    statistic, p_value, df = chi2_homogeneity(ref, cur)
    return TestResult(
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        threshold=threshold,
        n_ref=as_count(ref.sum()),
        n_cur=as_count(cur.sum()),
        mde=power.chi2_mde(df, alpha),
        effect_passed=passed("p_value", statistic, p_value, threshold),
        extra={"df": df},
    )


CHI2 = StatTest(
    name="chi2",
    display_name="Chi-square (homogeneity)",
    kind="p_value",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.05,
    needs="counts",
    run=run,
    description="chi-square homogeneity test on the 2×k count table",
)
