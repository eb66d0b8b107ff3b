"""Chi-square test of homogeneity on the 2×k table of reference and current counts: a two-sample test.

The reference row is the baseline sample's own counts (shares × the reference sample's size), never expected
counts from the baseline shares alone: the baseline is a sample too, and a goodness-of-fit test against its
shares would treat its noise as truth. Bins empty in both samples are dropped (they carry no information and
would divide by zero); the result then equals ``scipy.stats.chi2_contingency(table, correction=False)``. With one
non-empty bin left (``df = 0``) the samples cannot differ: statistic 0, p-value 1.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mlmon.stats.base import Measurement, SampleInput, StatTest
from mlmon.stats.power import chi2_mde


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


def measure(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("chi2")
    statistic, p_value, df = chi2_homogeneity(ref, cur)
    return Measurement(statistic, p_value, float(ref.sum()), float(cur.sum()), chi2_mde(df, alpha), {"df": df})


CHI2 = StatTest(
    name="chi2",
    display_name="Chi-square (homogeneity)",
    kind="p_value",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.05,
    needs="counts",
    measure=measure,
    description="chi-square homogeneity (contingency) test on the 2×k table of both samples' counts",
)
