"""Population Stability Index: ``PSI = Σ (q_i - p_i)·ln(q_i / p_i)`` over bin shares.

``p`` are the reference shares, ``q`` the current ones. A bin empty on one side would make the
logarithm infinite, so every share is floored at :data:`EPSILON` (1e-4, i.e. 0.01 %) before the sum;
the shares are not renormalised afterwards, which keeps bins with data on both sides exact.
Usual reading: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 significant shift; the default threshold is
0.1 because PSI judges the model's output, where a moderate shift already matters.
"""

from __future__ import annotations

import numpy as np

from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed, shares

EPSILON = 1e-4


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = EPSILON) -> float:
    p = np.maximum(shares(ref_counts), epsilon)
    q = np.maximum(shares(cur_counts), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def run(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("psi")
    n, m = float(ref.sum()), float(cur.sum())
    df = int(np.count_nonzero((ref + cur) > 0)) - 1
    statistic = psi(ref, cur) if n > 0 and m > 0 else float("nan")
    return TestResult(
        test="psi",
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.psi_mde(df, n, m, alpha),
        effect_passed=passed("distance", statistic, None, threshold),
    )


PSI = StatTest(
    name="psi",
    display_name="Population Stability Index",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.1,
    needs="counts",
    run=run,
    description=f"PSI on bin shares, empty bins floored at {EPSILON}",
)
