"""Jensen–Shannon distance, base 2, in [0, 1]: the square root of the JS divergence.

``JSD = ½·KL(p‖m) + ½·KL(q‖m)`` with ``m = (p + q)/2``, in bits; the distance is ``sqrt(JSD)``. Equal to
``scipy.spatial.distance.jensenshannon(p, q, base=2)``; empty bins need no epsilon (``0·log 0 = 0``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed, shares


def js_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    p = shares(np.asarray(ref_counts, dtype=float))
    q = shares(np.asarray(cur_counts, dtype=float))
    m = (p + q) / 2.0
    divergence = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / (2.0 * math.log(2.0))
    return float(np.sqrt(max(float(divergence), 0.0)))  # rounding can leave -1e-17


def run(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("jensenshannon")
    n, m = float(ref.sum()), float(cur.sum())
    df = int(np.count_nonzero((ref + cur) > 0)) - 1
    statistic = js_distance(ref, cur) if n > 0 and m > 0 else float("nan")
    return TestResult(
        test="jensenshannon",
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.js_mde(df, n, m, alpha),
        effect_passed=passed("distance", statistic, None, threshold),
    )


JENSEN_SHANNON = StatTest(
    name="jensenshannon",
    display_name="Jensen–Shannon distance (base 2)",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.1,
    needs="counts",
    run=run,
    description="sqrt of the JS divergence in bits, in [0, 1]",
)
